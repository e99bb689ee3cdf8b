package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	"tandem/store/postgres"
	"tandem/store/postgres/pgtest"
)

// peerSocket is a socket read by a goroutine of its own, so that a test can
// wait for a message, or the close, for a bounded time.
type peerSocket struct {
	ws     *websocket.Conn
	msgs   chan map[string]any
	closed chan struct{}
	err    error // why reading stopped, once closed is
}

// dialPeer opens a socket on srv with the cookies in jar (which any server
// on the same database honours) and reads its hello.
func dialPeer(t *testing.T, srv *server, jar http.CookieJar) *peerSocket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL(), "http")+"/api/socket",
		&websocket.DialOptions{HTTPClient: &http.Client{Jar: jar}, Subprotocols: []string{"tandem.v1"}})
	if err != nil {
		t.Fatalf("dial %s: %v", srv.URL(), err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	s := &peerSocket{ws: ws, msgs: make(chan map[string]any, 100), closed: make(chan struct{})}
	go func() {
		defer close(s.closed)
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				s.err = err
				return
			}
			batch, err := decodeFrame(data)
			if err != nil {
				s.err = err
				return
			}
			for _, m := range batch {
				s.msgs <- m
			}
		}
	}()
	s.next(t, "hello", 5*time.Second)
	return s
}

// next returns the next message of type typ, skipping others, or fails the
// test if none comes within d.
func (s *peerSocket) next(t *testing.T, typ string, d time.Duration) map[string]any {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case m := <-s.msgs:
			if m["type"] == typ {
				return m
			}
		case <-s.closed:
			select {
			case m := <-s.msgs:
				if m["type"] == typ {
					return m
				}
				continue
			default:
			}
			t.Fatalf("socket closed while waiting for %s: %v", typ, s.err)
		case <-timeout:
			t.Fatalf("no %s message within %s", typ, d)
		}
	}
}

// closedWith waits up to d for the server to close the socket, and returns
// the close status and reason.
func (s *peerSocket) closedWith(t *testing.T, d time.Duration) (websocket.StatusCode, string) {
	t.Helper()
	select {
	case <-s.closed:
	case <-time.After(d):
		t.Fatalf("socket still open after %s", d)
	}
	var ce websocket.CloseError
	if !errors.As(s.err, &ce) {
		t.Fatalf("socket ended without a close frame: %v", s.err)
	}
	return ce.Code, ce.Reason
}

// startPair starts two servers on one Postgres database, each listening to
// the other's doorbell.
func startPair(t *testing.T) (a, b *server) {
	t.Helper()
	cfg := testConfig(t, "postgres")
	cfg.clusterSecret = "doorbell-test-cluster-secret"
	a = startServer(t, cfg)
	b = startServer(t, cfg) // the same database (migrated already)
	for _, s := range []*server{a, b} {
		if s.doorbell == nil {
			t.Fatal("no doorbell on Postgres")
		}
		select {
		case <-s.doorbell.listening:
		case <-time.After(10 * time.Second):
			t.Fatal("the doorbell does not listen")
		}
	}
	if a.nodeID == "" || a.nodeID == b.nodeID {
		t.Fatalf("node ids %q and %q", a.nodeID, b.nodeID)
	}
	return a, b
}

// TestDoorbellAcrossServers: what one server does to a document's members
// or to a session reaches the sockets of another server on the same
// database within a couple of seconds: a role change is a role message, a
// removal or a delete a not-found error, a sign-out closes the socket 1008.
func TestDoorbellAcrossServers(t *testing.T) {
	a, b := startPair(t)
	const within = 2 * time.Second

	ann, _ := signup(t, a, "ann@example.com")
	bob, bobU := signup(t, a, "bob@example.com")
	var d docBody
	r := ann.do("POST", "/api/docs", map[string]string{"title": "shared", "content": "hi"})
	ann.want(r, 201, "", "create")
	r.json(t, &d)
	doc := "/api/docs/" + d.ID
	ann.want(ann.do("PUT", doc+"/members", map[string]string{"email": "bob@example.com", "role": "editor"}), 202, "", "invite bob")
	bob.want(bob.do("POST", "/api/invitations/"+d.ID+"/accept", nil), 200, "", "bob accepts")

	// Bob's session, made on A, opens a socket on B (the cookie jar sends
	// it to any port of 127.0.0.1; sessions live in the database).
	bobB := dialPeer(t, b, bob.http.Jar)
	annB := dialPeer(t, b, ann.http.Jar)
	join := `{"type":"join","doc":"` + d.ID + `"}`
	for _, s := range []*peerSocket{bobB, annB} {
		if err := s.ws.Write(context.Background(), websocket.MessageText, []byte(join)); err != nil {
			t.Fatal(err)
		}
		s.next(t, "joined", 5*time.Second)
	}

	ann.want(ann.do("PUT", doc+"/members", map[string]string{"email": "bob@example.com", "role": "viewer"}), 200, "", "demote bob on A")
	if m := bobB.next(t, "role", within); m["role"] != "viewer" || m["doc"] != d.ID {
		t.Errorf("role message on B = %v", m)
	}

	ann.want(ann.do("DELETE", doc+"/members/"+bobU.ID, nil), 204, "", "remove bob on A")
	if m := bobB.next(t, "error", within); m["code"] != "not_found" || m["doc"] != d.ID {
		t.Errorf("error on B after the removal = %v", m)
	}

	ann.want(ann.do("DELETE", doc, nil), 204, "", "delete on A")
	if m := annB.next(t, "error", within); m["code"] != "not_found" || m["doc"] != d.ID {
		t.Errorf("error on B after the delete = %v", m)
	}

	bob.want(bob.do("POST", "/api/logout", nil), 204, "", "bob signs out on A")
	if code, reason := bobB.closedWith(t, within); code != websocket.StatusPolicyViolation || reason != "signed out" {
		t.Errorf("bob's socket on B closed with %d %q, want 1008 signed out", code, reason)
	}
	// Ann's session was not signed out: her socket on B stays.
	pingCtx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := annB.ws.Ping(pingCtx); err != nil {
		t.Errorf("ann's socket on B: %v", err)
	}
}

// TestDoorbellGap: a removal rung while a server's listener was cut off
// (its backend killed, and the database refusing connections for a while)
// is missed by that server, which then finds it by itself once listening
// again: its rooms read their members' roles again.
func TestDoorbellGap(t *testing.T) {
	a, b := startPair(t)
	ctx := context.Background()
	ann, _ := signup(t, a, "ann@example.com")
	bob, bobU := signup(t, a, "bob@example.com")
	var d docBody
	r := ann.do("POST", "/api/docs", map[string]string{"title": "shared"})
	ann.want(r, 201, "", "create")
	r.json(t, &d)
	doc := "/api/docs/" + d.ID
	ann.want(ann.do("PUT", doc+"/members", map[string]string{"email": "bob@example.com", "role": "editor"}), 202, "", "invite bob")
	bob.want(bob.do("POST", "/api/invitations/"+d.ID+"/accept", nil), 200, "", "bob accepts")
	bobB := dialPeer(t, b, bob.http.Jar)
	if err := bobB.ws.Write(ctx, websocket.MessageText, []byte(`{"type":"join","doc":"`+d.ID+`"}`)); err != nil {
		t.Fatal(err)
	}
	bobB.next(t, "joined", 5*time.Second)

	// From the server's maintenance database: a database cannot refuse
	// connections while the session saying so is in it.
	dbCfg, err := pgx.ParseConfig(a.cfg.db.url)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(ctx) })
	allow := func(on bool) {
		t.Helper()
		stmt := fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS %t`, pgx.Identifier{dbCfg.Database}.Sanitize(), on)
		if _, err := admin.Exec(ctx, stmt); err != nil {
			t.Error(err)
		}
	}
	allow(false)
	t.Cleanup(func() { allow(true) }) // before the servers shut down
	tag, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = $1 AND application_name = $2`, dbCfg.Database, postgres.ListenerName)
	if err != nil || tag.RowsAffected() != 2 {
		t.Fatalf("terminate the two listeners: %v, %v", tag, err)
	}

	ann.want(ann.do("DELETE", doc+"/members/"+bobU.ID, nil), 204, "", "remove bob on A, unheard")
	select {
	case m := <-bobB.msgs:
		if m["type"] == "error" {
			t.Fatalf("B heard the removal while not listening: %v", m)
		}
	case <-time.After(500 * time.Millisecond):
	}

	allow(true)
	if m := bobB.next(t, "error", 10*time.Second); m["code"] != "not_found" || m["doc"] != d.ID {
		t.Errorf("error on B after the gap = %v", m)
	}
}
