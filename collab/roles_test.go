package collab

import (
	"context"
	"testing"
	"time"

	"tandem/ot"
	"tandem/store"
)

// slowRoles is a real store whose member lists take a while, as on a busy
// database.
type slowRoles struct{ store.Store }

func (s slowRoles) ListMembers(ctx context.Context, docID string) ([]store.Member, error) {
	time.Sleep(300 * time.Millisecond)
	return s.Store.ListMembers(ctx, docID)
}

// TestRemovalAppliesBeforeTheAnswer: once an owner has been told a member is
// removed (or demoted), that member's next op is refused, however slow the
// store is to list the roles: the room applies them before the REST call
// answers.
func TestRemovalAppliesBeforeTheAnswer(t *testing.T) {
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) {
			env := newEnvWrapped(t, kind, testEngine(), func(st store.Store) store.Store { return slowRoles{st} })
			ann, bob, doc := env.shared("", store.RoleEditor)
			b := bob.dial()
			b.join(doc, -1)
			ann.share(doc, bob, store.RoleViewer)
			b.send(opMessage(doc, 0, "after-demotion", ot.Insertion(0, 0, "evil")))
			wantError(t, b, "forbidden", "an op right after the demotion was answered")
			ann.call("DELETE", "/api/docs/"+doc+"/members/"+bob.id, nil, 204, nil)
			b.send(opMessage(doc, 0, "after-removal", ot.Insertion(0, 0, "evil")))
			if m := b.next("ack", "error"); m["type"] != "error" {
				t.Errorf("an op right after the removal was answered: %v", m)
			}
			if text, v := ann.content(doc); text != "" || v != 0 {
				t.Errorf("document = %q at %d, want it untouched", text, v)
			}
		})
	}
}

// TestRolesOutOfOrder: role refreshes read the store off the room's
// goroutine, so their answers can arrive late and out of order. An answer
// asked for before a member joined does not judge that member, and an
// answer older than one applied already is ignored.
func TestRolesOutOfOrder(t *testing.T) {
	forEachBackend(t, testEngine(), func(t *testing.T, env *env) {
		ann, bob, doc := env.shared("", store.RoleEditor)
		cat := env.signup("cat@example.com")
		ann.share(doc, cat, store.RoleViewer)
		b := bob.dial()
		b.join(doc, -1)
		env.hub.mu.Lock()
		r := env.hub.rooms[doc]
		env.hub.mu.Unlock()
		apply := func(n int64, members []store.Member) {
			t.Helper()
			q := rolesReq{n: n, members: members, applied: make(chan struct{})}
			r.post(q)
			<-q.applied
		}

		// Refresh k is asked for (its answer, without cat, still on its way)
		// before cat joins.
		k := r.refreshes.Add(1)
		c := cat.dial()
		c.join(doc, -1)
		annAndBob := []store.Member{{UserID: ann.id, Role: store.RoleOwner}, {UserID: bob.id, Role: store.RoleEditor}}
		apply(k, annAndBob)
		if n := roomMembers(env.hub, doc); n != 2 {
			t.Fatalf("an answer asked for before cat joined removed someone: %d members", n)
		}
		// A newer answer demotes bob; the older one, arriving after, does not
		// undo it.
		latest := r.refreshes.Add(1)
		apply(latest, []store.Member{{UserID: ann.id, Role: store.RoleOwner}, {UserID: bob.id, Role: store.RoleViewer}, {UserID: cat.id, Role: store.RoleViewer}})
		if m := b.next("role"); m["role"] != "viewer" {
			t.Fatalf("bob's role message = %v", m)
		}
		apply(k, annAndBob)
		if n := roomMembers(env.hub, doc); n != 2 {
			t.Errorf("an older answer applied after a newer one: %d members", n)
		}
		b.send(opMessage(doc, 0, "b1", ot.Insertion(0, 0, "x")))
		wantError(t, b, "forbidden", "bob's op after the newer answer demoted him")
	})
}
