package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestSocketThroughServer opens a socket through the whole server stack
// (sessions, caller, cross-origin protection, logging and metrics wrappers)
// and edits through it, on each store.
func TestSocketThroughServer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, srv *server) {
		ann, _ := signup(t, srv, "ann@example.com")
		var d docBody
		r := ann.do("POST", "/api/docs", map[string]string{"title": "live", "content": "hi"})
		ann.want(r, 201, "", "create")
		r.json(t, &d)

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		httpc := &http.Client{Jar: ann.http.Jar}
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL(), "http")+"/api/socket",
			&websocket.DialOptions{HTTPClient: httpc, Subprotocols: []string{"tandem.v1"}})
		if err != nil {
			t.Fatalf("dial through the server: %v", err)
		}
		defer ws.CloseNow()
		read := func(want string) map[string]any {
			t.Helper()
			for {
				_, data, err := ws.Read(ctx)
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				msgs, _ := decodeFrame(data)
				for _, m := range msgs {
					if m["type"] == want {
						return m
					}
				}
			}
		}
		read("hello")
		_ = ws.Write(ctx, websocket.MessageText, []byte(`{"type":"join","doc":"`+d.ID+`"}`))
		if j := read("joined"); j["content"] != "hi" {
			t.Fatalf("joined = %v", j)
		}
		_ = ws.Write(ctx, websocket.MessageText, []byte(`{"type":"op","doc":"`+d.ID+`","version":0,"id":"o1","op":[2," there"]}`))
		if a := read("ack"); a["version"] != float64(1) {
			t.Fatalf("ack = %v", a)
		}
		r = ann.do("GET", "/api/docs/"+d.ID+"/content", nil)
		var c struct{ Content string }
		r.json(t, &c)
		if c.Content != "hi there" {
			t.Errorf("content = %q", c.Content)
		}
		m := string(ann.do("GET", "/metrics", nil).body)
		for _, want := range []string{"tandem_rooms_open 1", "tandem_connections_open 1", "tandem_ops_sequenced_total 1", "tandem_commit_batch_ops_count 1", "tandem_ack_latency_seconds_count 1", "tandem_commit_seconds_count 1"} {
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %q", want)
			}
		}
	})
}

// TestRevocationClosesSockets checks that signing out closes the sockets of
// that session (and only those), and that revoking an API token closes the
// sockets it opened.
func TestRevocationClosesSockets(t *testing.T) {
	srv := startServer(t, testConfig(t, "sqlite"))
	ann, _ := signup(t, srv, "ann@example.com")
	other := newClient(t, srv) // a second session of the same person
	other.want(other.do("POST", "/api/login", map[string]string{"email": "ann@example.com", "password": "correct horse"}), 200, "", "login")
	var tok struct{ ID, Token string }
	r := ann.do("POST", "/api/tokens", map[string]string{"name": "script"})
	ann.want(r, 201, "", "token")
	r.json(t, &tok)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL(), "http") + "/api/socket"
	dial := func(opts *websocket.DialOptions) *websocket.Conn {
		t.Helper()
		opts.Subprotocols = []string{"tandem.v1"}
		ws, _, err := websocket.Dial(ctx, url, opts)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { ws.CloseNow() })
		if _, _, err := ws.Read(ctx); err != nil { // hello
			t.Fatalf("hello: %v", err)
		}
		return ws
	}
	annWS := dial(&websocket.DialOptions{HTTPClient: &http.Client{Jar: ann.http.Jar}})
	otherWS := dial(&websocket.DialOptions{HTTPClient: &http.Client{Jar: other.http.Jar}})
	tokenWS := dial(&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + tok.Token}}})

	// closedWith reads until the socket closes and returns its close status.
	closedWith := func(ws *websocket.Conn) (websocket.StatusCode, string) {
		t.Helper()
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				var ce websocket.CloseError
				if !errors.As(err, &ce) {
					t.Fatalf("socket ended without a close frame: %v", err)
				}
				return ce.Code, ce.Reason
			}
		}
	}

	ann.want(ann.do("POST", "/api/logout", nil), 204, "", "logout")
	if code, reason := closedWith(annWS); code != websocket.StatusPolicyViolation || reason != "signed out" {
		t.Errorf("signed-out session's socket closed with %d %q, want 1008 signed out", code, reason)
	}
	other.want(other.do("DELETE", "/api/tokens/"+tok.ID, nil), 204, "", "revoke")
	if code, _ := closedWith(tokenWS); code != websocket.StatusPolicyViolation {
		t.Errorf("revoked token's socket closed with %d, want 1008", code)
	}
	// The other session's socket is untouched: it still answers.
	pingCtx, cancelPing := context.WithTimeout(ctx, 2*time.Second)
	defer cancelPing()
	pongs := make(chan struct{})
	go func() { // pongs are read by a reader; it returns when the socket closes
		defer close(pongs)
		_, _, _ = otherWS.Read(ctx)
	}()
	if err := otherWS.Ping(pingCtx); err != nil {
		t.Errorf("the other session's socket: %v", err)
	}
	// Signing in again in that browser ends its previous session, and so
	// that session's socket.
	other.want(other.do("POST", "/api/login", map[string]string{"email": "ann@example.com", "password": "correct horse"}), 200, "", "login again")
	select {
	case <-pongs:
	case <-time.After(5 * time.Second):
		t.Error("the socket of the session replaced by a new sign-in is still open")
	}
}
