package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	"tandem/store/postgres/pgtest"
)

// These tests take the store away from a running server for real: Postgres
// is reached through a TCP proxy that the test cuts (every connection
// closed, new ones refused), or its database is made read-only, so that
// reads work and every commit fails (a failover to a replica; the same
// symptom as a full disk). The server's Postgres is never touched.

// logBuffer collects a server's log lines for a test to count.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	t   *testing.T
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if testing.Verbose() {
		b.t.Log(strings.TrimSpace(string(p)))
	}
	return b.buf.Write(p)
}

// count returns how many log lines contain msg="<msg>".
func (b *logBuffer) count(msg string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), `msg="`+msg+`"`)
}

// outage is a server on Postgres reached through a proxy the test cuts.
type outage struct {
	srv    *server
	proxy  *flakyProxy
	logs   *logBuffer
	dbName string
}

// startOutageServer starts a server on a fresh Postgres database, through
// a cuttable proxy, logging into a buffer.
func startOutageServer(t *testing.T) *outage {
	t.Helper()
	cfg := testConfig(t, "postgres")
	u, err := url.Parse(cfg.db.url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	cfg.db.url = u.String()
	logs := &logBuffer{t: t}
	srv := startServerLogging(t, cfg, logs)
	t.Cleanup(func() { proxy.setOffline(false) }) // runs first: the server shuts down on a store
	return &outage{srv: srv, proxy: proxy, logs: logs, dbName: strings.TrimPrefix(u.Path, "/")}
}

// eventually retries get until it returns true, for up to 15 s.
func eventually(t *testing.T, what string, get func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !get() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wantUnavailable fails unless r is a JSON 503 "unavailable" with Retry-After.
func wantUnavailable(t *testing.T, r response, what string) {
	t.Helper()
	if r.status != http.StatusServiceUnavailable || r.code() != "unavailable" || r.header.Get("Retry-After") == "" ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("%s: got %d %q (Content-Type %q, Retry-After %q), want a JSON 503 unavailable with Retry-After",
			what, r.status, r.body, r.header.Get("Content-Type"), r.header.Get("Retry-After"))
	}
}

// dialSocket opens the socket with the given cookies or bearer token and
// returns the handshake's status and Retry-After.
func dialSocket(t *testing.T, srv *server, jar http.CookieJar, token string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{HTTPClient: &http.Client{Jar: jar}, Subprotocols: []string{"tandem.v1"}}
	if token != "" {
		opts.HTTPHeader = http.Header{"Authorization": {"Bearer " + token}}
	}
	ws, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL(), "http")+"/api/socket", opts)
	if err == nil {
		ws.CloseNow()
		return http.StatusSwitchingProtocols, ""
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// TestStoreOutageIsNotSignedOut: while Postgres is unreachable, a valid
// bearer token or session gets 503 with Retry-After, on REST and at the
// socket handshake, never 401 (which tells clients to give up) nor a
// plain-text 500; when it is back, everything works again, nothing acked
// before was lost, and an unknown token is still 401.
func TestStoreOutageIsNotSignedOut(t *testing.T) {
	o := startOutageServer(t)
	ann, _ := signup(t, o.srv, "ann@example.com")
	prog, secret := tokenClient(t, o.srv, ann)
	prog.want(prog.do("GET", "/api/me", nil), 200, "", "token before the outage")
	var d docBody
	r := prog.do("POST", "/api/docs", map[string]string{"title": "kept", "content": "a"})
	prog.want(r, 201, "", "create a document")
	r.json(t, &d)
	prog.want(prog.do("POST", "/api/docs/"+d.ID+"/ops", map[string]any{"version": 0, "id": "before", "op": []any{1, "b"}}), 200, "", "edit before the outage")

	o.proxy.setOffline(true)
	wantUnavailable(t, prog.do("GET", "/api/me", nil), "bearer token during the outage")
	wantUnavailable(t, prog.do("POST", "/api/docs/"+d.ID+"/ops", map[string]any{"version": 1, "id": "during", "op": []any{2, "c"}}), "edit with a token during the outage")
	wantUnavailable(t, ann.do("GET", "/api/me", nil), "session cookie during the outage")
	if status, retry := dialSocket(t, o.srv, nil, secret); status != 503 || retry == "" {
		t.Errorf("socket handshake with a token during the outage: %d, Retry-After %q; want 503 with Retry-After", status, retry)
	}
	if status, retry := dialSocket(t, o.srv, ann.http.Jar, ""); status != 503 || retry == "" {
		t.Errorf("socket handshake with a cookie during the outage: %d, Retry-After %q; want 503 with Retry-After", status, retry)
	}
	// A token that cannot be one is refused without asking the store.
	bad := newClient(t, o.srv)
	bad.token = "not-a-token"
	bad.want(bad.do("GET", "/api/me", nil), 401, "unauthorized", "malformed token during the outage")
	if n := o.logs.count("store unavailable"); n < 5 {
		t.Errorf("%d store failures logged, want one per refused request", n)
	}

	o.proxy.setOffline(false)
	eventually(t, "the token to work again", func() bool { return prog.do("GET", "/api/me", nil).status == 200 })
	ann.want(ann.do("GET", "/api/me", nil), 200, "", "session after the outage")
	if status, _ := dialSocket(t, o.srv, nil, secret); status != 101 {
		t.Errorf("socket handshake after the outage: %d", status)
	}
	prog.want(prog.do("POST", "/api/docs/"+d.ID+"/ops", map[string]any{"version": 1, "id": "after", "op": []any{2, "c"}}), 200, "", "edit after the outage")
	r = prog.do("GET", "/api/docs/"+d.ID+"/content", nil)
	var c struct{ Content string }
	r.json(t, &c)
	if c.Content != "abc" {
		t.Errorf("content after the outage = %q, want abc", c.Content)
	}
	unknown := newClient(t, o.srv)
	unknown.token = "tdm_made-up"
	unknown.want(unknown.do("GET", "/api/me", nil), 401, "unauthorized", "unknown token")
	if status, _ := dialSocket(t, o.srv, nil, "tdm_made-up"); status != 401 {
		t.Errorf("socket handshake with an unknown token: %d, want 401", status)
	}
}

// TestReadyzDuringOutage: /readyz is 503 while the store is unreachable and
// 200 again after, and the log says so once each way, not once per poll.
func TestReadyzDuringOutage(t *testing.T) {
	o := startOutageServer(t)
	c := newClient(t, o.srv)
	c.want(c.do("GET", "/readyz", nil), 200, "", "ready")
	o.proxy.setOffline(true)
	for range 20 {
		wantUnavailable(t, c.do("GET", "/readyz", nil), "readyz during the outage")
		time.Sleep(20 * time.Millisecond)
	}
	o.proxy.setOffline(false)
	eventually(t, "readyz to recover", func() bool { return c.do("GET", "/readyz", nil).status == 200 })
	for range 5 {
		c.want(c.do("GET", "/readyz", nil), 200, "", "readyz after the outage")
	}
	if n, m := o.logs.count("not ready"), o.logs.count("ready again"); n != 1 || m != 1 {
		t.Errorf("logged %d \"not ready\" and %d \"ready again\"; want one of each", n, m)
	}
}

// setReadOnly makes the test database read-only (on) or writable (off) for
// new connections, and ends the server's current ones so that they take
// it: the pool reconnects by itself.
func setReadOnly(t *testing.T, dbName string, on bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	db := pgx.Identifier{dbName}.Sanitize()
	stmt := `ALTER DATABASE ` + db + ` RESET default_transaction_read_only`
	if on {
		stmt = `ALTER DATABASE ` + db + ` SET default_transaction_read_only = on`
	}
	if _, err := conn.Exec(ctx, stmt); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, dbName); err != nil {
		t.Fatal(err)
	}
}

// TestStoreCannotCommit: with a store that reads but cannot write (here a
// read-only database), /readyz says so, API tokens still work (looking one
// up only reads), and a session, whose idle deadline every request moves,
// is answered with a clean JSON 503 before the handler runs, never a 500
// after it. When the store can write again, so can everyone.
func TestStoreCannotCommit(t *testing.T) {
	o := startOutageServer(t)
	ann, _ := signup(t, o.srv, "ann@example.com")
	prog, _ := tokenClient(t, o.srv, ann)
	c := newClient(t, o.srv)
	c.want(c.do("GET", "/readyz", nil), 200, "", "ready")

	setReadOnly(t, o.dbName, true)
	eventually(t, "readyz to see that the store cannot commit", func() bool {
		r := c.do("GET", "/readyz", nil)
		return r.status == 503 && strings.Contains(string(r.body), "cannot commit")
	})
	// Each request may first meet a connection the database ended; the
	// pool replaces those at once.
	eventually(t, "a bearer request on the read-only store", func() bool { return prog.do("GET", "/api/me", nil).status == 200 })
	prog.want(prog.do("GET", "/api/docs", nil), 200, "", "read with a token while the store cannot commit")
	wantUnavailable(t, prog.do("POST", "/api/docs", map[string]string{"title": "lost"}), "a write with a token while the store cannot commit")
	r := ann.do("GET", "/api/me", nil)
	wantUnavailable(t, r, "session while the store cannot commit")
	if bytes.Contains(r.body, []byte(`"user"`)) {
		t.Errorf("the handler ran after the session could not be saved: %s", r.body)
	}
	wantUnavailable(t, c.do("GET", "/readyz", nil), "readyz while the store cannot commit")
	ann.want(ann.do("GET", "/healthz", nil), 200, "", "healthz with a session cookie while the store cannot commit")

	setReadOnly(t, o.dbName, false)
	eventually(t, "readyz to recover", func() bool { return c.do("GET", "/readyz", nil).status == 200 })
	eventually(t, "the session to work again", func() bool { return ann.do("GET", "/api/me", nil).status == 200 })
	if n, m := o.logs.count("not ready"), o.logs.count("ready again"); n != 1 || m != 1 {
		t.Errorf("logged %d \"not ready\" and %d \"ready again\"; want one of each", n, m)
	}
}

// TestServeWaitsForDB: `serve --wait-for-db` started while Postgres is
// unreachable waits, saying so, and serves once it answers; without the
// flag it fails at once, as before.
func TestServeWaitsForDB(t *testing.T) {
	u, err := url.Parse(pgtest.Empty(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, u.Host)
	proxy.setOffline(true)
	u.Host = proxy.ln.Addr().String()
	args := []string{"serve", "--addr", "127.0.0.1:0", "--database-url", u.String(), "--migrate", "--argon2-memory-kib", "8192"}

	start := time.Now()
	if code, _, errOut := tandem(t, args...); code != 1 || !strings.Contains(errOut, "cannot reach postgres") {
		t.Fatalf("serve without --wait-for-db on an unreachable database: exit %d, %q", code, errOut)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("serve without --wait-for-db took %s to fail", time.Since(start))
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	errOut := &logBuffer{t: t}
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, append(args, "--wait-for-db", "60s"), strings.NewReader(""), outW, errOut)
		outW.Close()
	}()
	eventually(t, "serve to say it waits", func() bool { return errOut.count("waiting for the database") >= 2 })
	select {
	case code := <-exited:
		t.Fatalf("serve --wait-for-db exited %d while the database was unreachable", code)
	default:
	}
	proxy.setOffline(false)
	line, err := bufio.NewReader(outR).ReadString('\n')
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "tandem: serving on ")
	if err != nil || !ok {
		t.Fatalf("serve did not start once the database answered: %q, %v", line, err)
	}
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("readyz after waiting for the database: %d", resp.StatusCode)
	}
	cancel()
	go io.Copy(io.Discard, outR)
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("serve exited %d after SIGTERM", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
}
