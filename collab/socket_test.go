package collab

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"tandem/auth"
	"tandem/ot"
	"tandem/store"
)

func forEachBackend(t *testing.T, cfg Config, test func(t *testing.T, env *env)) {
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) { test(t, newEnv(t, kind, cfg)) })
	}
}

func opMessage(doc string, version int64, id string, op ot.Op) map[string]any {
	return map[string]any{"type": "op", "doc": doc, "version": version, "id": id, "op": op}
}

// TestReconnect: an op is sent and the socket cut before its ack; after
// rejoining at the old version the client gets only the ops it missed, and
// the re-sent op is acknowledged with its original version, stored once.
func TestReconnect(t *testing.T) {
	forEachBackend(t, testEngine(), func(t *testing.T, env *env) {
		ann, bob, doc := env.shared("hello", store.RoleEditor)
		s := ann.dial()
		if j := s.join(doc, -1); j["content"] != "hello" || num(j["version"]) != 0 {
			t.Fatalf("joined = %v", j)
		}
		// Bob makes version 1, which ann sees.
		b := bob.dial()
		b.join(doc, -1)
		b.send(opMessage(doc, 0, "bob-1", ot.Insertion(5, 5, "!")))
		b.next("ack")
		s.next("op")

		// Ann sends version 2 and the socket dies before the ack.
		s.send(opMessage(doc, 1, "ann-1", ot.Insertion(6, 0, "¡")))
		s.close()
		waitFor(t, func() bool { _, v := ann.content(doc); return v == 2 })
		// Bob makes version 3 meanwhile.
		b.send(opMessage(doc, 2, "bob-2", ot.Insertion(7, 7, "?")))
		b.next("ack")

		s = ann.dial()
		j := s.join(doc, 1)
		ops, _ := j["ops"].([]any)
		if j["content"] != nil || len(ops) != 2 || num(ops[0].(map[string]any)["version"]) != 2 || num(ops[1].(map[string]any)["version"]) != 3 {
			t.Fatalf("rejoin at 1 got %v; want only versions 2 and 3", j)
		}
		s.send(opMessage(doc, 1, "ann-1", ot.Insertion(6, 0, "¡")))
		ack := s.next("ack", "error")
		if ack["type"] != "ack" || num(ack["version"]) != 2 {
			t.Fatalf("re-send answered %v; want ack at its original version 2", ack)
		}
		if text, v := ann.content(doc); text != "¡hello!?" || v != 3 {
			t.Fatalf("document = %q at %d; the re-send was applied twice?", text, v)
		}
		// Rejoining at the head gets no ops and no content.
		s2 := ann.dial()
		if j := s2.join(doc, 3); j["content"] != nil || len(j["ops"].([]any)) != 0 {
			t.Errorf("rejoin at head = %v", j)
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSlowSubscriber: a client that never reads is closed once a write to
// it times out (its queue is compacted meanwhile, not grown), while the
// others keep receiving every op.
func TestSlowSubscriber(t *testing.T) {
	cfg := testEngine()
	// Enough that a reader delayed by a loaded machine (the race detector,
	// other packages' tests) keeps up, few enough that 600 ops of 16 KiB
	// overflow it and the socket buffers of the client that never reads.
	cfg.OutQueue = 64
	cfg.WriteTimeout = 300 * time.Millisecond
	cfg.OpsPerSecond, cfg.OpsBurst = 1e6, 1e6
	forEachBackend(t, cfg, func(t *testing.T, env *env) {
		ann, slow, bob := env.signup("ann@example.com"), env.signup("slow@example.com"), env.signup("bob@example.com")
		doc := ann.createDoc("")
		ann.share(doc, slow, store.RoleViewer)
		ann.share(doc, bob, store.RoleViewer)

		// The slow client's TCP receive buffer is tiny and it never reads.
		dialer := &net.Dialer{}
		tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err == nil {
				_ = c.(*net.TCPConn).SetReadBuffer(4096)
			}
			return c, err
		}}
		slowHTTP := *slow.http
		slowHTTP.Transport = tr
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(env.srv.URL, "http")+"/api/socket",
			&websocket.DialOptions{HTTPClient: &slowHTTP, Subprotocols: []string{Subprotocol}})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"join","doc":"`+doc+`"}`)); err != nil {
			t.Fatal(err)
		}

		watcher := bob.dial()
		watcher.join(doc, -1)
		writer := ann.dial()
		writer.join(doc, -1)
		waitFor(t, func() bool { return roomMembers(env.hub, doc) == 3 })

		chunk := strings.Repeat("0123456789abcdef", 1024) // 16 KiB
		n := 0
		const ops = 600
		for v := range int64(ops) {
			op := ot.Insertion(n, 0, chunk)
			if v%2 == 1 {
				op = ot.Deletion(n, 0, len(chunk))
			}
			writer.send(opMessage(doc, v, fmt.Sprintf("w%d", v), op))
			writer.next("ack")
			n = op.TargetLen()
		}
		for range ops {
			watcher.next("op")
		}
		waitFor(t, func() bool { return roomMembers(env.hub, doc) == 2 }) // the 2 that keep up
	})
}

// TestSecurity: each bad request gets its documented refusal and the
// document stays as it was.
func TestSecurity(t *testing.T) {
	cfg := testEngine()
	origins, err := auth.NewOriginPolicy("", []string{"https://editor.example.com"}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Origins = origins
	cfg.MaxFrameBytes = 4096
	forEachBackend(t, cfg, func(t *testing.T, env *env) {
		ann, viewer, stranger := env.signup("ann@example.com"), env.signup("viv@example.com"), env.signup("sam@example.com")
		doc := ann.createDoc("safe")
		ann.share(doc, viewer, store.RoleViewer)

		// Handshake refusals.
		anon := &user{e: env, http: &http.Client{}}
		if _, resp, err := anon.tryDial(nil); err == nil || resp == nil || resp.StatusCode != 401 {
			t.Errorf("no credentials: %v %v; want 401", err, resp)
		}
		if _, resp, err := ann.tryDial(http.Header{"Origin": {"https://evil.example"}}); err == nil || resp == nil || resp.StatusCode != 403 {
			t.Errorf("foreign origin with a valid cookie: %v; want 403", err)
		}
		if s, _, err := ann.tryDial(http.Header{"Origin": {"https://editor.example.com"}}); err != nil {
			t.Errorf("allowed origin refused: %v", err)
		} else {
			s.close()
		}
		if _, resp, err := ann.tryDial(http.Header{"X-No-Subprotocol": {"1"}}); err == nil || resp == nil || resp.StatusCode != 400 {
			t.Errorf("no subprotocol: %v; want 400", err)
		}

		// Refusals over an open socket.
		v := viewer.dial()
		if j := v.join(doc, -1); j["role"] != "viewer" {
			t.Fatalf("viewer joined as %v", j)
		}
		v.send(opMessage(doc, 0, "v1", ot.Insertion(4, 4, "!")))
		wantError(t, v, "forbidden", "viewer's op")

		s := stranger.dial()
		if j := s.join(doc, -1); j["type"] != "error" || j["code"] != "not_found" {
			t.Errorf("stranger's join = %v, want not_found", j)
		}
		s.send(opMessage(doc, 0, "s1", ot.Insertion(4, 4, "!")))
		wantError(t, s, "bad_request", "op without joining")
		s.send(opMessage("nonexistent", 0, "s1", ot.Insertion(4, 4, "!")))
		wantError(t, s, "bad_request", "op to a document not joined")

		a := ann.dial()
		a.join(doc, -1)
		for _, bad := range []string{
			`not json`, `{"type":"op"}`, `{"type":"dance","doc":"x"}`, `{"type":"join","doc":"` + doc + `","extra":1}`,
			`{"type":"op","doc":"` + doc + `","version":0,"id":"x","op":[4.5]}`,
			`{"type":"presence","doc":"` + doc + `","version":0,"selection":[{"anchor":-1,"head":0}]}`,
		} {
			a.sendRaw([]byte(bad))
			m := a.next("error")
			if m["code"] != "bad_request" && m["code"] != "invalid_op" {
				t.Errorf("%s: got %v", bad, m)
			}
		}
		a.send(opMessage(doc, 0, "a1", ot.Insertion(9, 9, "!")))
		wantError(t, a, "invalid_op", "op that does not fit the document")
		a.send(opMessage(doc, 5, "a2", ot.Insertion(4, 4, "!")))
		wantError(t, a, "bad_request", "op ahead of the document")

		if text, version := ann.content(doc); text != "safe" || version != 0 {
			t.Fatalf("document changed to %q at %d", text, version)
		}

		// An oversized frame closes the socket with 1009.
		a.sendRaw([]byte(`{"type":"op","doc":"` + doc + `","version":0,"id":"big","op":["` + strings.Repeat("x", 8000) + `",4]}`))
		if code := a.waitClosed(); code != websocket.StatusMessageTooBig {
			t.Errorf("oversized message closed with %d, want 1009", code)
		}
		if text, _ := ann.content(doc); text != "safe" {
			t.Errorf("document changed to %q", text)
		}
	})
}

func wantError(t *testing.T, s *socket, code, what string) {
	t.Helper()
	m := s.next("error", "ack")
	if m["type"] != "error" || m["code"] != code {
		t.Errorf("%s: got %v, want error %s", what, m, code)
	}
}

// TestRoleChange: a member demoted to viewer can no longer edit; one
// removed is told and leaves the room.
func TestRoleChange(t *testing.T) {
	forEachBackend(t, testEngine(), func(t *testing.T, env *env) {
		ann, bob, doc := env.shared("", store.RoleEditor)
		b := bob.dial()
		b.join(doc, -1)
		b.send(opMessage(doc, 0, "b1", ot.Insertion(0, 0, "x")))
		b.next("ack")

		ann.share(doc, bob, store.RoleViewer)
		if m := b.next("role"); m["role"] != "viewer" {
			t.Fatalf("role message = %v", m)
		}
		b.send(opMessage(doc, 1, "b2", ot.Insertion(1, 1, "y")))
		wantError(t, b, "forbidden", "op after demotion")

		ann.call("DELETE", "/api/docs/"+doc+"/members/"+bob.id, nil, 204, nil)
		wantError(t, b, "not_found", "removal")
		b.send(opMessage(doc, 1, "b3", ot.Insertion(1, 1, "y")))
		wantError(t, b, "bad_request", "op after removal")
		if text, v := ann.content(doc); text != "x" || v != 1 {
			t.Errorf("document = %q at %d", text, v)
		}
	})
}

// TestFlood: one client sending far past its rate is refused and finally
// closed, while another client's edits are acknowledged promptly.
func TestFlood(t *testing.T) {
	cfg := testEngine()
	// A slow refill, so that 200 refused messages in a row come well
	// within one token's time even on a loaded machine (a message let
	// through resets the strikes); the calm client stays within its burst.
	cfg.OpsPerSecond, cfg.OpsBurst, cfg.FloodStrikes = 5, 20, 200
	forEachBackend(t, cfg, func(t *testing.T, env *env) {
		ann, bob, doc := env.shared("", store.RoleEditor)
		flood := bob.dial()
		flood.join(doc, -1)
		calm := ann.dial()
		calm.join(doc, -1)

		var wg sync.WaitGroup
		wg.Go(func() {
			for i := range 5000 {
				// Stale ops at version 0 that each fit: the room transforms
				// every accepted one over all before it.
				flood.sendRaw(fmt.Appendf(nil, `{"type":"op","doc":%q,"version":0,"id":"f%d","op":["f"]}`, doc, i))
				select {
				case <-flood.closed:
					return
				default:
				}
			}
		})
		var worst time.Duration
		calmAcked := map[string]int64{}
		for i := range 20 {
			start := time.Now()
			text, v := ann.content(doc)
			id := fmt.Sprintf("calm%d", i)
			calm.send(opMessage(doc, v, id, ot.Insertion(utf8.RuneCountInString(text), 0, "c")))
			// Every one of the calm client's ops is acknowledged, none refused.
			m := calm.next("ack", "error")
			if m["type"] != "ack" || m["id"] != id || num(m["version"]) <= v {
				t.Fatalf("calm client's op %s at version %d answered %v; want its ack", id, v, m)
			}
			calmAcked[id] = num(m["version"])
			worst = max(worst, time.Since(start))
			time.Sleep(20 * time.Millisecond)
		}
		wg.Wait()
		stored := storedOps(t, env, doc)
		for id, v := range calmAcked {
			if got, ok := stored[storedKey{ann.id, id}]; !ok || got != v {
				t.Errorf("calm op %s acknowledged as version %d, stored as %d (stored: %v)", id, v, got, ok)
			}
		}
		if code := flood.waitClosed(); code != websocket.StatusPolicyViolation {
			t.Errorf("flooding client closed with %d, want 1008", code)
		}
		if worst > 2*time.Second {
			t.Errorf("the room was unresponsive during the flood: %v for an ack", worst)
		}
		limited := 0
		for {
			select {
			case m := <-flood.msgs:
				if m["code"] == "rate_limited" {
					limited++
				}
				continue
			default:
			}
			break
		}
		if limited == 0 {
			t.Error("no rate_limited errors were sent")
		}
		t.Logf("worst ack during the flood: %v; %d rate_limited errors", worst, limited)
	})
}

// TestSubmitREST: programs edit through POST /api/docs/{id}/ops, through
// the same room as the sockets; a re-send gets the same version.
func TestSubmitREST(t *testing.T) {
	forEachBackend(t, testEngine(), func(t *testing.T, env *env) {
		ann, viv := env.signup("ann@example.com"), env.signup("viv@example.com")
		doc := ann.createDoc("ab")
		ann.share(doc, viv, store.RoleViewer)
		s := ann.dial()
		s.join(doc, -1)

		var res struct{ Version int64 }
		body := map[string]any{"version": 0, "id": "rest-1", "op": ot.Insertion(2, 1, "é")}
		ann.call("POST", "/api/docs/"+doc+"/ops", body, 200, &res)
		if res.Version != 1 {
			t.Fatalf("version = %d", res.Version)
		}
		if m := s.next("op"); m["id"] != "rest-1" {
			t.Errorf("socket got %v", m)
		}
		ann.call("POST", "/api/docs/"+doc+"/ops", body, 200, &res)
		if res.Version != 1 {
			t.Errorf("re-send got version %d, want 1", res.Version)
		}
		// A stale edit is transformed.
		ann.call("POST", "/api/docs/"+doc+"/ops", map[string]any{"version": 0, "id": "rest-2", "op": ot.Insertion(2, 2, "!")}, 200, &res)
		if text, v := ann.content(doc); text != "aéb!" || v != 2 {
			t.Errorf("document = %q at %d", text, v)
		}
		viv.call("POST", "/api/docs/"+doc+"/ops", map[string]any{"version": 2, "id": "v", "op": ot.Insertion(4, 0, "x")}, 403, nil)
		ann.call("POST", "/api/docs/"+doc+"/ops", map[string]any{"version": 2, "id": "bad", "op": ot.Insertion(9, 0, "x")}, 400, nil)
		ann.call("POST", "/api/docs/"+doc+"/ops", map[string]any{"version": 2, "id": "bad", "op": []any{1.5}}, 400, nil)
		ann.call("POST", "/api/docs/"+doc+"/ops", map[string]any{"id": "x", "op": ot.Insertion(4, 0, "x")}, 400, nil)
	})
}

// roomMembers asks the document's room how many connections it has.
func roomMembers(h *Hub, doc string) int {
	h.mu.Lock()
	r, ok := h.rooms[doc]
	h.mu.Unlock()
	if !ok {
		return 0
	}
	n := make(chan int, 1)
	r.post(inspectReq(func(r *room) { n <- len(r.members) }))
	select {
	case v := <-n:
		return v
	case <-r.done:
		return 0
	}
}

// TestLeaveRejoin: an op sent, then leave and rejoin on the same socket
// before its commit: the new membership must receive the op itself (the old
// one, which would have had the ack, is gone), so the client cannot miss it.
func TestLeaveRejoin(t *testing.T) {
	cfg := testEngine()
	cfg.JoinsPerSecond = 1000
	env := newEnv(t, "sqlite", cfg)
	_, doc, s := env.solo("")
	for round := range 20 {
		j := s.join(doc, -1)
		v := num(j["version"])
		s.send(opMessage(doc, v, fmt.Sprintf("op%d", round), ot.Insertion(int(v), 0, "x")))
		s.send(map[string]any{"type": "leave", "doc": doc})
		s.send(map[string]any{"type": "join", "doc": doc, "version": v})
		var got bool
		for !got {
			m := s.next("joined", "op", "ack")
			switch m["type"] {
			case "joined":
				for _, o := range m["ops"].([]any) {
					got = got || o.(map[string]any)["id"] == fmt.Sprintf("op%d", round)
				}
			case "op":
				got = m["id"] == fmt.Sprintf("op%d", round)
			case "ack":
				// An ack may come before the leave; never to the new membership.
			}
		}
		s.send(map[string]any{"type": "leave", "doc": doc})
		time.Sleep(5 * time.Millisecond)
	}
}
