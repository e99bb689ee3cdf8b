package collab

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"tandem/ot"
	"tandem/store"
)

// TestResendBeyondWindow: an op acknowledged long enough ago that it has
// left the room's window is re-sent by its author, as a client does after a
// reconnect (same id, same original base). The room finds it in the stored
// history and acknowledges it with its original version: never conflict,
// never applied twice. Over a socket and over REST.
func TestResendBeyondWindow(t *testing.T) {
	cfg := testEngine()
	cfg.WindowOps = 4 // the window holds at most 2 × 4 ops
	const later = 20  // ops landing after the re-sent one: far past the window
	forEachBackend(t, cfg, func(t *testing.T, env *env) {
		ann, bob, doc := env.shared("", store.RoleEditor)
		b := bob.dial()
		b.join(doc, -1)
		v := int64(0)
		bobOp := func() {
			t.Helper()
			b.send(opMessage(doc, v, fmt.Sprintf("b%d", v), ot.Insertion(int(v), int(v), "b")))
			if m := b.next("ack", "error"); m["type"] != "ack" || num(m["version"]) != v+1 {
				t.Fatalf("Bob's op at %d: %v", v, m)
			}
			v++
		}
		bobOp()
		bobOp()

		// Over a socket: Ann's op at base 2 is version 3.
		a := ann.dial()
		a.join(doc, -1)
		sockOp := opMessage(doc, 2, "ann-sock", ot.Insertion(2, 0, "A"))
		a.send(sockOp)
		if m := a.next("ack", "error"); m["type"] != "ack" || num(m["version"]) != 3 {
			t.Fatalf("Ann's op: %v", m)
		}
		v++
		a.close()
		for range later {
			bobOp()
		}
		a = ann.dial()
		if j := a.join(doc, 2); j["type"] != "joined" {
			t.Fatalf("rejoin: %v", j)
		}
		a.send(sockOp)
		if m := a.next("ack", "error"); m["type"] != "ack" || num(m["version"]) != 3 {
			t.Errorf("re-sent op beyond the window answered %v; want ack at its original version 3", m)
		}

		// Over REST: Ann's program makes the next version, at a stale base.
		rest := map[string]any{"version": v - 1, "id": "ann-rest", "op": ot.Insertion(int(v-1), 0, "R")}
		var res struct{ Version int64 }
		ann.call("POST", "/api/docs/"+doc+"/ops", rest, 200, &res)
		if res.Version != v+1 {
			t.Fatalf("REST op got version %d, want %d", res.Version, v+1)
		}
		restVersion := res.Version
		v++
		for range later {
			bobOp()
		}
		res.Version = 0
		ann.call("POST", "/api/docs/"+doc+"/ops", rest, 200, &res)
		if res.Version != restVersion {
			t.Errorf("re-sent REST op beyond the window got version %d, want its original %d", res.Version, restVersion)
		}
		// The socket's op, re-sent by a program of its author, too.
		ann.call("POST", "/api/docs/"+doc+"/ops", map[string]any{"version": 2, "id": "ann-sock", "op": ot.Insertion(2, 0, "A")}, 200, &res)
		if res.Version != 3 {
			t.Fatalf("socket op re-sent over REST got version %d, want 3", res.Version)
		}

		// Each applied once: the text and the stored history say so.
		want := "RA" + strings.Repeat("b", 2+2*later)
		text, head := ann.content(doc)
		if head != v || text != want {
			t.Errorf("document %q at %d, want %q at %d", text, head, want, v)
		}
		recs, err := env.st.Ops(context.Background(), doc, 1, head+10, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int64{}
		for _, rec := range recs {
			if w, dup := seen[rec.ID]; dup && rec.UserID == ann.id {
				t.Errorf("op %s stored at %d and %d", rec.ID, w, rec.Version)
			}
			if rec.UserID == ann.id {
				seen[rec.ID] = rec.Version
			}
		}
		if seen["ann-sock"] != 3 || seen["ann-rest"] != restVersion || len(seen) != 2 {
			t.Errorf("Ann's stored ops = %v, want ann-sock at 3 and ann-rest at %d", seen, restVersion)
		}
	})
}
