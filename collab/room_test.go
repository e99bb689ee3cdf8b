package collab

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"tandem/ot"
	"tandem/store"
)

// TestShutdown: closing the hub commits and acknowledges what it accepted,
// then closes sockets with 1001 (going away). Every op acknowledged is
// stored once, at its version; an op refused is not stored; one neither
// acknowledged nor refused (still on its way at the close) is either stored,
// and a re-send is acknowledged with its version, or not stored, and a
// re-send stores it: none is lost, none applied twice.
func TestShutdown(t *testing.T) {
	forEachBackend(t, testEngine(), func(t *testing.T, env *env) {
		ann, doc, s := env.solo("")
		s.join(doc, -1)
		const n = 100 // within the rate limit's burst
		op := ot.Insertion(0, 0, "z")
		for i := range n / 2 {
			s.send(opMessage(doc, 0, fmt.Sprintf("s%d", i), op))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// Wait for the first ack so the ops are in the room, then shut down
		// while the other half is being sent.
		acked := map[string]int64{}
		m := s.next("ack")
		acked[m["id"].(string)] = num(m["version"])
		closed := make(chan error, 1)
		go func() { closed <- env.hub.Close(ctx) }()
		for i := n / 2; i < n; i++ {
			s.send(opMessage(doc, 0, fmt.Sprintf("s%d", i), op))
		}
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		refused := map[string]any{}
		s.waitClosed() // the reader hands out every message before it closes
		for len(s.msgs) > 0 {
			switch m := <-s.msgs; m["type"] {
			case "ack":
				id := m["id"].(string)
				if _, dup := acked[id]; dup {
					t.Errorf("op %s acknowledged twice", id)
				}
				acked[id] = num(m["version"])
			case "error":
				id, _ := m["id"].(string)
				refused[id] = m["code"]
			}
		}
		if code := s.closeStatus(); code != websocket.StatusGoingAway {
			t.Errorf("close code %d, want 1001", code)
		}
		stored := storedOps(t, env, doc)
		for id, v := range acked {
			if got, ok := stored[storedKey{ann.id, id}]; !ok || got != v {
				t.Errorf("op %s acknowledged as version %d before the close, stored as %d (stored: %v)", id, v, got, ok)
			}
		}
		for id, code := range refused {
			if _, ok := acked[id]; ok {
				t.Errorf("op %s both acknowledged and refused (%v)", id, code)
			}
			// docs/protocol.md §6 says unavailable; once its room has
			// drained, an op gets bad_request "join the document before
			// sending ops" instead. A client rejoins on either (§9).
			if code != "unavailable" && code != "bad_request" {
				t.Errorf("op %s refused with %v, want unavailable", id, code)
			}
			if v, ok := stored[storedKey{ann.id, id}]; ok {
				t.Errorf("op %s refused (%v) but stored at %d", id, code, v)
			}
		}
		if len(stored) > n {
			t.Errorf("%d ops stored, %d sent", len(stored), n)
		}

		// A server started again on the store: every op not acknowledged is
		// re-sent, as its client would after reconnecting.
		h, err := NewHub(env.st, testEngine(), slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := h.Close(ctx); err != nil {
				t.Errorf("second hub close: %v", err)
			}
		}()
		unacked := 0
		for i := range n {
			id := fmt.Sprintf("s%d", i)
			if _, ok := acked[id]; ok {
				continue
			}
			unacked++
			v, err := h.Submit(ctx, doc, ann.id, 0, id, op)
			if err != nil {
				t.Errorf("re-send of %s: %v", id, err)
				continue
			}
			if was, ok := stored[storedKey{ann.id, id}]; ok && v != was {
				t.Errorf("re-send of %s, stored at %d but never acknowledged, got version %d", id, was, v)
			}
		}
		after := storedOps(t, env, doc)
		if len(after) != n {
			t.Errorf("%d ops stored after the re-sends, want %d", len(after), n)
		}
		for id, v := range acked {
			if after[storedKey{ann.id, id}] != v {
				t.Errorf("op %s moved from version %d to %d", id, v, after[storedKey{ann.id, id}])
			}
		}
		if _, c, err := env.st.Load(ctx, doc); err != nil {
			t.Fatal(err)
		} else if c.Text != strings.Repeat("z", n) || c.Version != n {
			t.Errorf("document %q at %d, want %d z at %d", c.Text, c.Version, n, n)
		}
		t.Logf("%d ops acknowledged before the close, %d refused, %d stored; %d re-sent", len(acked), len(refused), len(stored), unacked)
	})
}

// TestIdleRoomCloses: an empty room closes after the idle time, and the
// document opens again on the next join, its history intact; joins and
// edits racing the close find a room either way.
func TestIdleRoomCloses(t *testing.T) {
	cfg := testEngine()
	cfg.IdleRoom = 80 * time.Millisecond
	cfg.PresenceEvery = 10 * time.Millisecond
	env := newEnv(t, "sqlite", cfg)
	ann := env.signup("ann@example.com")
	doc := ann.createDoc("")
	version := int64(0)
	for round := range 8 {
		s := ann.dial()
		j := s.join(doc, -1)
		if num(j["version"]) != version {
			t.Fatalf("round %d: joined at %v, want %d", round, j["version"], version)
		}
		s.send(opMessage(doc, version, fmt.Sprintf("r%d", round), ot.Insertion(int(version), int(version), "x")))
		if m := s.next("ack", "error"); m["type"] != "ack" {
			t.Fatalf("round %d: %v", round, m)
		}
		version++
		s.close()
		// Sometimes wait for the room to close, sometimes race it.
		if round%2 == 0 {
			waitFor(t, func() bool { env.hub.mu.Lock(); defer env.hub.mu.Unlock(); return len(env.hub.rooms) == 0 })
		} else {
			time.Sleep(time.Duration(round*10) * time.Millisecond)
		}
		var res struct{ Version int64 }
		ann.call("POST", "/api/docs/"+doc+"/ops", map[string]any{"version": version, "id": fmt.Sprintf("rest%d", round), "op": ot.Insertion(int(version), 0, "y")}, 200, &res)
		version = res.Version
	}
	if text, v := ann.content(doc); v != version || utf8.RuneCountInString(text) != int(version) {
		t.Errorf("document %q at %d, want %d characters", text, v, version)
	}
}

// TestShutdownRefusesOpsUnavailable: an op that arrives while the server
// shuts down, after its document's room has drained, is refused with
// unavailable, as docs/protocol.md §6 says ("join or op while shutting
// down"). It runs the first half of Hub.Close (refuse new work, drain the
// rooms) and sends the op before the second half closes the sockets.
func TestShutdownRefusesOpsUnavailable(t *testing.T) {
	env := newEnv(t, "sqlite", testEngine())
	_, doc, s := env.solo("")
	s.join(doc, -1)
	h := env.hub
	h.mu.Lock()
	h.closing = true
	r := h.rooms[doc]
	h.mu.Unlock()
	r.post(drainReq{})
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the room did not drain")
	}
	s.send(opMessage(doc, 0, "late", ot.Insertion(0, 0, "x")))
	wantError(t, s, "unavailable", "an op during shutdown")
}

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
