package collab

import (
	"fmt"
	"strings"
	"testing"

	"tandem/ot"
	"tandem/store"
)

// TestOpIDReuse: op ids are unique per author; reusing one is refused with
// conflict and changes nothing, while another author may use the same id.
func TestOpIDReuse(t *testing.T) {
	forEachBackend(t, testEngine(), func(t *testing.T, env *env) {
		ann, bob, doc := env.shared("", store.RoleEditor)
		a, b := ann.dial(), bob.dial()
		a.join(doc, -1)
		b.join(doc, -1)
		a.send(opMessage(doc, 0, "same", ot.Insertion(0, 0, "a")))
		if m := a.next("ack"); num(m["version"]) != 1 {
			t.Fatalf("ack = %v", m)
		}
		b.send(opMessage(doc, 1, "same", ot.Insertion(1, 1, "b")))
		if m := b.next("ack", "error"); m["type"] != "ack" || num(m["version"]) != 2 {
			t.Fatalf("another author's op with the same id: %v", m)
		}
		a.send(opMessage(doc, 2, "same", ot.Insertion(2, 2, "c")))
		wantError(t, a, "conflict", "reused op id")
		a.send(opMessage(doc, 2, "fresh", ot.Insertion(2, 2, "c")))
		if m := a.next("ack", "error"); m["type"] != "ack" || num(m["version"]) != 3 {
			t.Fatalf("the room did not carry on: %v", m)
		}
		if text, v := ann.content(doc); text != "abc" || v != 3 {
			t.Errorf("document = %q at %d", text, v)
		}
	})
}

// TestOpIDReuseBeyondWindow: an author reusing an op id older than the room
// remembers makes the store refuse the commit. Only that op is refused:
// ops of others in the same batch are sequenced again and acknowledged, and
// no socket is closed.
func TestOpIDReuseBeyondWindow(t *testing.T) {
	cfg := testEngine()
	cfg.WindowOps = 2
	forEachBackend(t, cfg, func(t *testing.T, env *env) {
		ann, bob, doc := env.shared("", store.RoleEditor)
		a, b := ann.dial(), bob.dial()
		a.join(doc, -1)
		b.join(doc, -1)
		v := int64(0)
		for i := range 12 {
			a.send(opMessage(doc, v, fmt.Sprintf("a%d", i), ot.Insertion(int(v), int(v), "a")))
			if m := a.next("ack", "error"); m["type"] != "ack" {
				t.Fatalf("op a%d: %v", i, m)
			}
			v++
		}
		// a0 to a5 are far out of the window now. Bob's op and Ann's reuse
		// race, into one batch or two.
		for round := range 6 {
			b.send(opMessage(doc, v, fmt.Sprintf("b%d", round), ot.Insertion(int(v), int(v), "b")))
			reused := fmt.Sprintf("a%d", round)
			a.send(opMessage(doc, v, reused, ot.Insertion(int(v), 0, "X")))
			if m := b.next("ack", "error"); m["type"] != "ack" || num(m["version"]) != v+1 {
				t.Fatalf("round %d: Bob's op: %v", round, m)
			}
			v++
			// Ann gets her refusal and Bob's op, in either order.
			var refused, saw bool
			for !refused || !saw {
				switch m := a.next("op", "error", "ack"); m["type"] {
				case "error":
					if m["code"] != "conflict" || m["id"] != reused {
						t.Fatalf("round %d: Ann got %v", round, m)
					}
					refused = true
				case "op":
					if m["id"] != fmt.Sprintf("b%d", round) || num(m["version"]) != v {
						t.Fatalf("round %d: Ann got %v", round, m)
					}
					saw = true
				default:
					t.Fatalf("round %d: Ann got %v", round, m)
				}
			}
		}
		a.send(opMessage(doc, v, "a-new", ot.Insertion(int(v), int(v), "!")))
		if m := a.next("ack", "error"); m["type"] != "ack" || num(m["version"]) != v+1 {
			t.Fatalf("Ann's next op: %v", m)
		}
		if text, version := ann.content(doc); text != "aaaaaaaaaaaabbbbbb!" || version != v+1 {
			t.Errorf("document %q at %d", text, version)
		}
	})
}

// TestWindowBoundedByBytes: a room keeps about WindowBytes of recent ops,
// however big each is, and a client that rejoins further back than that
// still catches up, from the store, or gets the content when the ops would
// be bigger than it.
func TestWindowBoundedByBytes(t *testing.T) {
	cfg := testEngine()
	cfg.WindowBytes = 64 << 10
	cfg.MaxDocBytes = 64 << 10
	env := newEnv(t, "sqlite", cfg)
	ann, doc, s := env.solo("")
	s.join(doc, -1)
	big := strings.Repeat("x", 16<<10)
	v := int64(0)
	for i := range 40 {
		op := ot.Insertion(0, 0, big)
		if i%2 == 1 {
			op = ot.Deletion(len(big), 0, len(big))
		}
		s.send(opMessage(doc, v, fmt.Sprintf("o%d", i), op))
		if m := s.next("ack", "error"); m["type"] != "ack" {
			t.Fatalf("op %d: %v", i, m)
		}
		v++
	}
	env.hub.mu.Lock()
	r := env.hub.rooms[doc]
	env.hub.mu.Unlock()
	sizes := make(chan [2]int, 1)
	r.post(inspectReq(func(r *room) { sizes <- [2]int{r.seq.windowBytes, len(r.seq.window)} }))
	got := <-sizes
	if got[0] > cfg.WindowBytes || got[1] >= 40 {
		t.Errorf("window holds %d bytes in %d ops; want at most %d bytes", got[0], got[1], cfg.WindowBytes)
	}
	// Rejoining from version 38 (two ops back) is caught up with ops; from 0,
	// the ops (640 KiB) are more than twice the largest document, so the
	// content is sent instead.
	late := ann.dial()
	if j := late.join(doc, 38); j["ops"] == nil || len(j["ops"].([]any)) != 2 {
		t.Errorf("rejoin at 38: %v", j["ops"] != nil)
	}
	late2 := ann.dial()
	if j := late2.join(doc, 0); j["content"] != "" || j["ops"] != nil {
		t.Errorf("rejoin at 0 should get the (empty) content, got ops %v", j["ops"] != nil)
	}
	// An op made at version 0 would need all that history (320 KiB of
	// inserted text) read back from the store, over 4 × the document limit:
	// it is refused as too far behind, and changes nothing.
	late2.send(opMessage(doc, 0, "old-base", ot.Insertion(0, 0, "y")))
	wantError(t, late2, "bad_request", "an op whose history is too big to read")
	late2.send(opMessage(doc, 38, "near-base", ot.Insertion(0, 0, "y")))
	if m := late2.next("ack", "error"); m["type"] != "ack" {
		t.Errorf("an op two versions back: %v", m)
	}
}

// TestResendTooFarBehind: a re-sent op the room still holds is acknowledged
// with its version even when its base is older than MaxBehind allows, so a
// client is never told to send it again as a new op (which would apply it
// twice).
func TestResendTooFarBehind(t *testing.T) {
	cfg := testEngine()
	cfg.MaxBehind = 3
	env := newEnv(t, "sqlite", cfg)
	ann, doc, s := env.solo("")
	s.join(doc, -1)
	for v := range int64(6) {
		s.send(opMessage(doc, v, fmt.Sprintf("o%d", v), ot.Insertion(int(v), int(v), "x")))
		if m := s.next("ack", "error"); m["type"] != "ack" {
			t.Fatalf("op %d: %v", v, m)
		}
	}
	s.send(opMessage(doc, 0, "o0", ot.Insertion(0, 0, "x")))
	if m := s.next("ack", "error"); m["type"] != "ack" || num(m["version"]) != 1 {
		t.Fatalf("re-send of o0 from version 0: %v", m)
	}
	s.send(opMessage(doc, 0, "new", ot.Insertion(0, 0, "y")))
	wantError(t, s, "bad_request", "a new op too far behind")
	if text, v := ann.content(doc); text != "xxxxxx" || v != 6 {
		t.Errorf("document %q at %d", text, v)
	}
}
