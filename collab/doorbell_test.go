package collab

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"tandem/store"
)

// bellLog is a doorbell with no other node on it: it keeps what is rung,
// or fails every ring if failing is set.
type bellLog struct {
	rung    chan Event
	failing bool
}

func (b *bellLog) Ring(ctx context.Context, e Event) error {
	if b.failing {
		return errors.New("the database is away")
	}
	b.rung <- e
	return nil
}

// next is the next event rung, or fails the test.
func (b *bellLog) next(t *testing.T) Event {
	t.Helper()
	select {
	case e := <-b.rung:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("nothing rung")
		return Event{}
	}
}

// none fails the test if anything was rung.
func (b *bellLog) none(t *testing.T, what string) {
	t.Helper()
	select {
	case e := <-b.rung:
		t.Errorf("%s rang %+v", what, e)
	default:
	}
}

// refreshes is how many role refreshes doc's open room was asked for.
func refreshes(h *Hub, doc string) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rooms[doc].refreshes.Load()
}

// credentialOf is the credential of user's one socket on the hub.
func credentialOf(t *testing.T, h *Hub, userID string) string {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		if c.user.ID == userID {
			return c.cred
		}
	}
	t.Fatalf("no socket of %s", userID)
	return ""
}

// TestDoorbell: member changes and revocations made here ring the doorbell
// after acting here; what other nodes ring is applied here without ringing
// again; this node's own events and malformed ones are ignored; a gap has
// every open room read its roles again; a failed ring fails no request.
func TestDoorbell(t *testing.T) {
	env := newEnv(t, "sqlite", testEngine())
	bell := &bellLog{rung: make(chan Event, 16)}
	env.hub.SetDoorbell(bell, "me")
	ann, bob, doc := env.shared("", store.RoleEditor)
	for len(bell.rung) > 0 {
		<-bell.rung // sharing with a newcomer rings nothing, but be sure
	}
	b := bob.dial()
	b.join(doc, -1)

	ann.share(doc, bob, store.RoleViewer)
	if m := b.next("role"); m["role"] != "viewer" {
		t.Fatalf("role message = %v", m)
	}
	if e := bell.next(t); e != (Event{Kind: EventMembers, Doc: doc, Node: "me"}) {
		t.Errorf("a role change rang %+v", e)
	}

	// Another node made bob an editor again.
	ctx := context.Background()
	if err := env.st.SetMember(ctx, doc, bob.id, store.RoleEditor); err != nil {
		t.Fatal(err)
	}
	before := refreshes(env.hub, doc)
	for _, p := range []string{
		fmt.Sprintf(`{"kind":"members","doc":%q,"node":"me"}`, doc), // our own
		`not json`,
		`{"kind":"members","node":"other"}`,
		`{"kind":"members","doc":"","node":"other"}`,
		fmt.Sprintf(`{"kind":"members","doc":%q}`, doc),
		fmt.Sprintf(`{"kind":"party","doc":%q,"node":"other"}`, doc),
		`{"kind":"signout","node":"other"}`,
	} {
		env.hub.Heard(p)
	}
	if after := refreshes(env.hub, doc); after != before {
		t.Errorf("own or malformed events refreshed the roles %d times", after-before)
	}
	env.hub.Heard(fmt.Sprintf(`{"kind":"members","doc":%q,"node":"other"}`, doc))
	if m := b.next("role"); m["role"] != "editor" {
		t.Fatalf("role message after another node's event = %v", m)
	}
	bell.none(t, "an event heard")

	// Another node removed bob, and its ring was missed.
	if err := env.st.RemoveMember(ctx, doc, bob.id); err != nil {
		t.Fatal(err)
	}
	env.hub.HeardGap()
	wantError(t, b, "not_found", "removal missed in a gap")
	bell.none(t, "a gap")

	// Another node signed bob's session out.
	cred := credentialOf(t, env.hub, bob.id)
	env.hub.Heard(fmt.Sprintf(`{"kind":"signout","credential":%q,"node":"me"}`, cred))
	env.hub.Heard(fmt.Sprintf(`{"kind":"signout","credential":%q,"node":"other"}`, cred))
	if code := b.waitClosed(); code != closePolicy {
		t.Errorf("signed out elsewhere: closed with %d, want %d", code, closePolicy)
	}
	if _, _, err := bob.tryDial(nil); err == nil {
		t.Error("a socket opened with a credential revoked elsewhere")
	}
	bell.none(t, "a sign-out heard")

	// Signing out here (auth.Service.OnRevoke calls CloseCredential) rings.
	a := ann.dial()
	annCred := credentialOf(t, env.hub, ann.id)
	env.hub.CloseCredential(annCred)
	a.waitClosed()
	if e := bell.next(t); e != (Event{Kind: EventSignout, Credential: annCred, Node: "me"}) {
		t.Errorf("a sign-out rang %+v", e)
	}

	// A bell that fails fails nothing else.
	env.hub.SetDoorbell(&bellLog{failing: true}, "me")
	ann2 := env.signup("ann2@example.com")
	d2 := ann2.createDoc("")
	ann2.call("DELETE", "/api/docs/"+d2, nil, 204, nil)
}
