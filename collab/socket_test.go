package collab

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

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
		ann, bob := env.signup("ann@example.com"), env.signup("bob@example.com")
		doc := ann.createDoc("hello")
		ann.share(doc, bob, store.RoleEditor)
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

// TestSlowSubscriber: a client that never reads is dropped, while the
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
		if got := testutil.ToFloat64(env.hub.metrics.dropped); got < 1 {
			t.Fatalf("the slow subscriber was not dropped (dropped %v)", got)
		}
		if roomMembers(env.hub, doc) != 2 {
			t.Errorf("room has %d members, want the 2 that keep up", roomMembers(env.hub, doc))
		}
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
		ann, bob := env.signup("ann@example.com"), env.signup("bob@example.com")
		doc := ann.createDoc("")
		ann.share(doc, bob, store.RoleEditor)
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
	cfg.OpsPerSecond, cfg.OpsBurst, cfg.FloodStrikes = 50, 20, 200
	forEachBackend(t, cfg, func(t *testing.T, env *env) {
		ann, bob := env.signup("ann@example.com"), env.signup("bob@example.com")
		doc := ann.createDoc("")
		ann.share(doc, bob, store.RoleEditor)
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

// TestShutdown: closing the hub commits and acknowledges what it accepted,
// then closes sockets with 1001 (going away). Every op acknowledged is
// stored once, at its version; an op refused is not stored; one neither
// acknowledged nor refused (still on its way at the close) is either stored,
// and a re-send is acknowledged with its version, or not stored, and a
// re-send stores it: none is lost, none applied twice.
func TestShutdown(t *testing.T) {
	forEachBackend(t, testEngine(), func(t *testing.T, env *env) {
		ann := env.signup("ann@example.com")
		doc := ann.createDoc("")
		s := ann.dial()
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

// TestOpIDReuse: op ids are unique per author; reusing one is refused with
// conflict and changes nothing, while another author may use the same id.
func TestOpIDReuse(t *testing.T) {
	forEachBackend(t, testEngine(), func(t *testing.T, env *env) {
		ann, bob := env.signup("ann@example.com"), env.signup("bob@example.com")
		doc := ann.createDoc("")
		ann.share(doc, bob, store.RoleEditor)
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

// TestLeaveRejoin: an op sent, then leave and rejoin on the same socket
// before its commit: the new membership must receive the op itself (the old
// one, which would have had the ack, is gone), so the client cannot miss it.
func TestLeaveRejoin(t *testing.T) {
	cfg := testEngine()
	cfg.JoinsPerSecond = 1000
	env := newEnv(t, "sqlite", cfg)
	ann := env.signup("ann@example.com")
	doc := ann.createDoc("")
	s := ann.dial()
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

// TestOpIDReuseBeyondWindow: an author reusing an op id older than the room
// remembers makes the store refuse the commit. Only that op is refused:
// ops of others in the same batch are sequenced again and acknowledged, and
// no socket is closed.
func TestOpIDReuseBeyondWindow(t *testing.T) {
	cfg := testEngine()
	cfg.WindowOps = 2
	forEachBackend(t, cfg, func(t *testing.T, env *env) {
		ann, bob := env.signup("ann@example.com"), env.signup("bob@example.com")
		doc := ann.createDoc("")
		ann.share(doc, bob, store.RoleEditor)
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
	ann := env.signup("ann@example.com")
	doc := ann.createDoc("")
	s := ann.dial()
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
	ann := env.signup("ann@example.com")
	doc := ann.createDoc("")
	s := ann.dial()
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

// TestShutdownRefusesOpsUnavailable: an op that arrives while the server
// shuts down, after its document's room has drained, is refused with
// unavailable, as docs/protocol.md §6 says ("join or op while shutting
// down"). It runs the first half of Hub.Close (refuse new work, drain the
// rooms) and sends the op before the second half closes the sockets.
func TestShutdownRefusesOpsUnavailable(t *testing.T) {
	env := newEnv(t, "sqlite", testEngine())
	ann := env.signup("ann@example.com")
	doc := ann.createDoc("")
	s := ann.dial()
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
