package collab

import (
	"testing"

	"tandem/store"
)

// TestRolesOutOfOrder: role refreshes read the store off the room's
// goroutine, so their answers can arrive late and out of order. An answer
// read before a member joined does not judge that member, and an answer
// older than one applied already is ignored.
func TestRolesOutOfOrder(t *testing.T) {
	forEachBackend(t, testEngine(), func(t *testing.T, env *env) {
		ann, bob, cat := env.signup("ann@example.com"), env.signup("bob@example.com"), env.signup("cat@example.com")
		doc := ann.createDoc("")
		ann.share(doc, bob, store.RoleEditor)
		b := bob.dial()
		b.join(doc, -1)
		env.hub.mu.Lock()
		r := env.hub.rooms[doc]
		env.hub.mu.Unlock()

		run := func(fn func(r *room)) {
			t.Helper()
			done := make(chan struct{})
			r.post(inspectReq(func(r *room) { fn(r); close(done) }))
			<-done
		}
		ann.share(doc, cat, store.RoleViewer)
		settled := func() bool {
			ok := false
			run(func(r *room) { ok = r.rolesApplied == r.refreshes })
			return ok
		}
		waitFor(t, settled)
		// Refresh k is asked (its answer, without cat, is still on its way)
		// before cat joins.
		var k int
		run(func(r *room) { r.refreshes++; k = r.refreshes })
		c := cat.dial()
		c.join(doc, -1)
		waitFor(t, func() bool { return roomMembers(env.hub, doc) == 2 })

		annOnly := []store.Member{{UserID: ann.id, Role: store.RoleOwner}, {UserID: bob.id, Role: store.RoleEditor}}
		r.post(rolesReq{n: k, members: annOnly})
		if n := roomMembers(env.hub, doc); n != 2 {
			t.Fatalf("an answer read before cat joined removed someone: %d members", n)
		}
		// A newer answer demotes bob; the older one, arriving after, does not
		// undo it.
		latest := k + 1
		run(func(r *room) { r.refreshes = latest })
		demoted := []store.Member{{UserID: ann.id, Role: store.RoleOwner}, {UserID: bob.id, Role: store.RoleViewer}, {UserID: cat.id, Role: store.RoleViewer}}
		r.post(rolesReq{n: latest, members: demoted})
		if m := b.next("role"); m["role"] != "viewer" {
			t.Fatalf("bob's role message = %v", m)
		}
		r.post(rolesReq{n: latest - 1, members: annOnly})
		if n := roomMembers(env.hub, doc); n != 2 {
			t.Errorf("an older answer applied after a newer one: %d members", n)
		}
		var role store.Role
		run(func(r *room) {
			for conn, m := range r.members {
				if conn.userInfo().ID == bob.id {
					role = m.role
				}
			}
		})
		if role != store.RoleViewer {
			t.Errorf("bob's role in the room = %s, want viewer", role)
		}
	})
}
