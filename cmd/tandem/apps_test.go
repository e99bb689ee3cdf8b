package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"tandem/auth"
	"tandem/store"
)

// appEnv is a server with one host app, registered by an admin over REST,
// and two documents the app created: "a" and "team-b".
type appEnv struct {
	t      *testing.T
	srv    *server
	admin  *client
	appID  string
	secret string
	logs   *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newAppEnv(t *testing.T, args ...string) *appEnv {
	t.Helper()
	return newAppEnvOn(t, "sqlite", args...)
}

// newAppEnvOn is newAppEnv on the store kind ("sqlite" or "postgres").
func newAppEnvOn(t *testing.T, kind string, args ...string) *appEnv {
	t.Helper()
	logs := &lockedBuffer{}
	srv := startServerLogging(t, testConfig(t, kind, append([]string{"--allowed-origins", "https://app.example.com"}, args...)...), logs)
	e := registerApp(t, srv, "Wiki")
	e.logs = logs
	stranger, _ := signup(t, srv, "someone@example.com")
	stranger.want(stranger.do("POST", "/api/apps", map[string]string{"name": "Wiki"}), 403, "forbidden", "a non-admin registers an app")
	app := e.appClient()
	app.want(app.do("PUT", "/api/apps/docs/a", map[string]string{"title": "A", "content": "hello"}), 201, "", "app creates a")
	app.want(app.do("PUT", "/api/apps/docs/a", map[string]string{"title": "A"}), 200, "", "app puts a again")
	app.want(app.do("PUT", "/api/apps/docs/team-b", map[string]string{"title": "B"}), 201, "", "app creates team-b")
	app.want(app.do("PUT", "/api/apps/docs/bad*id", map[string]string{"title": "X"}), 400, "bad_request", "an id with *")
	e.admin.want(e.admin.do("PUT", "/api/apps/docs/c", map[string]string{"title": "C"}), 403, "forbidden", "a person puts an app document")
	return e
}

// registerApp makes admin@example.com an admin of srv, who registers an
// app called name over REST.
func registerApp(t *testing.T, srv *server, name string) *appEnv {
	t.Helper()
	admin, _ := signup(t, srv, "admin@example.com")
	if err := srv.auth.SetAdmins(context.Background(), []string{"admin@example.com"}); err != nil {
		t.Fatal(err)
	}
	r := admin.do("POST", "/api/apps", map[string]string{"name": name})
	admin.want(r, 201, "", "an admin registers an app")
	var created auth.AppCreated
	r.json(t, &created)
	return &appEnv{t: t, srv: srv, admin: admin, appID: created.App.ID, secret: created.Secret}
}

// appClient sends the app's own credentials.
func (e *appEnv) appClient() *client {
	c := newClient(e.t, e.srv)
	c.http.Jar = nil
	c.token = e.appID + ":" + e.secret
	return c
}

// bearer returns a cookieless client sending token.
func (e *appEnv) bearer(token string) *client {
	c := newClient(e.t, e.srv)
	c.http.Jar = nil
	c.token = token
	return c
}

// claims are a valid token's: user u1, editor of "a", viewer of team/*.
func (e *appEnv) claims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"iss": e.appID, "sub": "u1", "name": "Ulla", "color": "#aa3300",
		"docs": map[string]string{"a": "editor", "team-*": "viewer"},
		"iat":  now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
}

func (e *appEnv) sign(c jwt.MapClaims) string {
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(e.secret))
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *appEnv) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(e.srv.URL(), "http") + "/api/socket" + query
}

// dial opens a socket; it returns the handshake's status when refused.
func (e *appEnv) dial(ctx context.Context, query string, hdr http.Header) (*websocket.Conn, int) {
	e.t.Helper()
	ws, resp, err := websocket.Dial(ctx, e.wsURL(query), &websocket.DialOptions{Subprotocols: []string{"tandem.v1"}, HTTPHeader: hdr})
	if err != nil {
		if resp == nil {
			e.t.Fatalf("dial: %v", err)
		}
		return nil, resp.StatusCode
	}
	e.t.Cleanup(func() { ws.CloseNow() })
	if _, _, err := ws.Read(ctx); err != nil { // hello
		e.t.Fatalf("hello: %v", err)
	}
	return ws, 101
}

// roundTrip sends msg and returns the next message about doc.
func roundTrip(ctx context.Context, t *testing.T, ws *websocket.Conn, msg string) map[string]any {
	t.Helper()
	if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		msgs, err := decodeFrame(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m["type"] != "presence" {
				return m
			}
		}
	}
}

// closeOf reads until the socket closes and returns its close status.
func closeOf(ctx context.Context, t *testing.T, ws *websocket.Conn) (websocket.StatusCode, string) {
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

// TestAppTokenMatrix: every bad token is refused, on REST and on the
// socket's handshake alike, and a good one (HS256 or EdDSA) is accepted.
func TestAppTokenMatrix(t *testing.T) {
	e := newAppEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := time.Now()
	with := func(k string, v any) string {
		c := e.claims()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return e.sign(c)
	}
	good := e.sign(e.claims())
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, e.claims()).SignedString([]byte(e.secret))
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, e.claims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	wrongKey, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, e.claims()).SignedString([]byte("tdms_not-the-secret"))
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edNoKey, _ := jwt.NewWithClaims(jwt.SigningMethodEdDSA, e.claims()).SignedString(edKey)
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(mustB64(t, parts[1])), `"editor"`, `"owner!"`, 1))) + "." + parts[2]
	bad := map[string]string{
		"expired":           with("exp", now.Add(-time.Minute).Unix()),
		"not yet valid":     with("nbf", now.Add(time.Minute).Unix()),
		"issued in future":  with("iat", now.Add(time.Minute).Unix()),
		"wrong key":         wrongKey,
		"wrong alg (HS512)": hs512,
		"alg none":          none,
		"EdDSA, no key":     edNoKey,
		"tampered":          tampered,
		"missing exp":       with("exp", nil),
		"over-long":         with("exp", now.Add(2*time.Hour).Unix()),
		"unknown app":       with("iss", "nope"),
		"no sub":            with("sub", nil),
		"owner role":        with("docs", map[string]string{"a": "owner"}),
		"bad color":         with("color", "red"),
	}
	for name, tok := range bad {
		c := e.bearer(tok)
		c.want(c.do("GET", "/api/docs/a", nil), 401, "unauthorized", name+" on REST")
		if _, status := e.dial(ctx, "", http.Header{"Authorization": {"Bearer " + tok}}); status != 401 {
			t.Errorf("%s on the socket: handshake %d, want 401", name, status)
		}
	}
	c := e.bearer(good)
	c.want(c.do("GET", "/api/docs/a", nil), 200, "", "a good token")
	c.want(c.do("GET", "/api/me", nil), 200, "", "a good token's user")

	// EdDSA, once the app has a public key.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	r := e.admin.do("POST", "/api/apps", map[string]string{"name": "CRM", "public_key": base64.StdEncoding.EncodeToString(pub)})
	e.admin.want(r, 201, "", "app with a key")
	var crm auth.AppCreated
	r.json(t, &crm)
	app := e.bearer(crm.App.ID + ":" + crm.Secret)
	app.want(app.do("PUT", "/api/apps/docs/crm-1", map[string]string{"title": "CRM"}), 201, "", "crm creates a document")
	app.want(app.do("PUT", "/api/apps/docs/a", map[string]string{"title": "taken"}), 409, "conflict", "another app's id")
	cl := e.claims()
	cl["iss"], cl["docs"] = crm.App.ID, map[string]string{"crm-1": "viewer"}
	ed, _ := jwt.NewWithClaims(jwt.SigningMethodEdDSA, cl).SignedString(priv)
	c = e.bearer(ed)
	c.want(c.do("GET", "/api/docs/crm-1", nil), 200, "", "an EdDSA token")
	// A token of one app never opens another app's document, whatever it names.
	cl["docs"] = map[string]string{"a": "editor"}
	ed, _ = jwt.NewWithClaims(jwt.SigningMethodEdDSA, cl).SignedString(priv)
	c = e.bearer(ed)
	c.want(c.do("GET", "/api/docs/a", nil), 404, "not_found", "crm's token names the wiki's document")
}

func mustB64(t *testing.T, s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAppTokenGrants: a token opens the documents it names, with the role
// it names, on REST and on the socket, and nothing else.
func TestAppTokenGrants(t *testing.T) {
	e := newAppEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok := e.sign(e.claims())
	c := e.bearer(tok)
	c.want(c.do("GET", "/api/docs/team-b", nil), 200, "", "viewer by prefix reads")
	c.want(c.do("POST", "/api/docs/team-b/ops", map[string]any{"version": 0, "id": "v1", "op": []any{"x"}}), 403, "forbidden", "a viewer edits over REST")
	c.want(c.do("POST", "/api/docs/a/ops", map[string]any{"version": 0, "id": "e1", "op": []any{"x", 5}}), 200, "", "an editor edits over REST")
	only := e.claims()
	only["docs"] = map[string]string{"a": "editor"}
	onlyA := e.bearer(e.sign(only))
	onlyA.want(onlyA.do("GET", "/api/docs/team-b", nil), 404, "not_found", "a token for a opens b")
	onlyA.want(onlyA.do("POST", "/api/docs", map[string]string{"title": "mine"}), 403, "forbidden", "an app's user creates a document")
	onlyA.want(onlyA.do("POST", "/api/tokens", map[string]string{"name": "x"}), 403, "forbidden", "an app's user makes an API token")
	onlyA.want(onlyA.do("DELETE", "/api/docs/a", nil), 403, "forbidden", "an editor by token deletes")
	onlyA.want(onlyA.do("GET", "/api/apps", nil), 403, "forbidden", "an app's user lists apps")

	ws, status := e.dial(ctx, "", http.Header{"Authorization": {"Bearer " + e.sign(only)}})
	if status != 101 {
		t.Fatalf("socket with a good token: %d", status)
	}
	if m := roundTrip(ctx, t, ws, `{"type":"join","doc":"team-b"}`); m["type"] != "error" || m["code"] != "not_found" {
		t.Errorf("join b with a token for a: %v", m)
	}
	if m := roundTrip(ctx, t, ws, `{"type":"join","doc":"a"}`); m["type"] != "joined" || m["role"] != "editor" {
		t.Errorf("join a: %v", m)
	}
	if m := roundTrip(ctx, t, ws, `{"type":"op","doc":"a","version":1,"id":"s1","op":["y",6]}`); m["type"] != "ack" {
		t.Errorf("editor's op: %v", m)
	}
	ws2, _ := e.dial(ctx, "", http.Header{"Authorization": {"Bearer " + tok}})
	if m := roundTrip(ctx, t, ws2, `{"type":"join","doc":"team-b"}`); m["type"] != "joined" || m["role"] != "viewer" {
		t.Errorf("join team-b as viewer: %v", m)
	}
	if m := roundTrip(ctx, t, ws2, `{"type":"op","doc":"team-b","version":0,"id":"s2","op":["z"]}`); m["type"] != "error" || m["code"] != "forbidden" {
		t.Errorf("viewer's op on the socket: %v", m)
	}
	// The user's name and colour come from the token.
	var me struct{ User auth.UserView }
	r := c.do("GET", "/api/me", nil)
	r.json(t, &me)
	if me.User.Name != "Ulla" || me.User.Email != "" {
		t.Errorf("app user = %+v", me.User)
	}
}

// TestSocketTickets: a browser trades its JWT for a ticket that opens one
// socket, once, within seconds; the ticket is never logged; CORS answers
// allowed origins only; expiry and revocation close the socket with 1008.
func TestSocketTickets(t *testing.T) {
	e := newAppEnv(t, "--socket-ticket-ttl", "1s")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := e.bearer(e.sign(e.claims()))
	ticket := func() string {
		t.Helper()
		r := c.do("POST", "/api/socket-tickets", nil)
		c.want(r, 201, "", "ticket")
		var tk auth.TicketView
		r.json(t, &tk)
		if d := time.Until(tk.ExpiresAt); d <= 0 || d > 2*time.Second {
			t.Errorf("ticket expires in %s", d)
		}
		return tk.Ticket
	}
	tk := ticket()
	ws, status := e.dial(ctx, "?ticket="+tk, nil)
	if status != 101 {
		t.Fatalf("socket with a ticket: %d", status)
	}
	if m := roundTrip(ctx, t, ws, `{"type":"join","doc":"a"}`); m["type"] != "joined" || m["role"] != "editor" {
		t.Errorf("join a by ticket: %v", m)
	}
	if _, status := e.dial(ctx, "?ticket="+tk, nil); status != 401 {
		t.Errorf("a used ticket: %d, want 401", status)
	}
	late := ticket()
	time.Sleep(1100 * time.Millisecond)
	if _, status := e.dial(ctx, "?ticket="+late, nil); status != 401 {
		t.Errorf("an expired ticket: %d, want 401", status)
	}
	if _, status := e.dial(ctx, "?ticket="+ticket(), http.Header{"Origin": {"https://evil.example.com"}}); status != 403 {
		t.Errorf("a ticket from a foreign origin: %d, want 403", status)
	}
	// A token past its exp, but within the leeway allowed for clock
	// skew, still reads the API; it gets no ticket (one would be born
	// expired) but a clear 401.
	lapsed := e.claims()
	lapsed["exp"] = time.Now().Add(-3 * time.Second).Unix()
	lc := e.bearer(e.sign(lapsed))
	lc.want(lc.do("GET", "/api/me", nil), 200, "", "a token within the leeway")
	lc.want(lc.do("POST", "/api/socket-tickets", nil), 401, "unauthorized", "a ticket for a token past its exp")
	person := newClient(t, e.srv)
	person.want(person.do("POST", "/api/login", map[string]string{"email": "admin@example.com", "password": "correct horse"}), 200, "", "login")
	person.want(person.do("POST", "/api/socket-tickets", nil), 403, "forbidden", "a ticket for a cookie")
	if logs := e.logs.String(); strings.Contains(logs, tk) || strings.Contains(logs, late) || strings.Contains(logs, "ticket=") {
		t.Errorf("a ticket was logged:\n%s", logs)
	}

	// CORS: the allowed origin gets the headers on the routes the client
	// package calls with a token (preflight and answer), another origin
	// does not, and other routes have none.
	preflights := []struct {
		name, origin, method, path, allow, methods string
		status                                     int
	}{
		{"tickets", "https://app.example.com", "POST", "/api/socket-tickets", "https://app.example.com", "POST", 204},
		{"tickets, other origin", "https://evil.example.com", "POST", "/api/socket-tickets", "", "", 204},
		{"me", "https://app.example.com", "GET", "/api/me", "https://app.example.com", "GET", 204},
		{"ops", "https://app.example.com", "POST", "/api/docs/team%2Fx/ops", "https://app.example.com", "GET, POST", 204},
		{"ops, other origin", "https://evil.example.com", "GET", "/api/docs/a/ops", "", "", 204},
		{"not embedded", "https://app.example.com", "GET", "/api/docs", "", "", 404},
		{"not embedded method", "https://app.example.com", "DELETE", "/api/docs/a/ops", "", "", 404},
	}
	for _, p := range preflights {
		req, _ := http.NewRequest("OPTIONS", e.srv.URL()+p.path, nil)
		req.Header.Set("Origin", p.origin)
		req.Header.Set("Access-Control-Request-Method", p.method)
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != p.allow || resp.StatusCode != p.status ||
			resp.Header.Get("Access-Control-Allow-Methods") != p.methods {
			t.Errorf("preflight %s: %d, allow-origin %q, methods %q; want %d, %q, %q", p.name, resp.StatusCode, got,
				resp.Header.Get("Access-Control-Allow-Methods"), p.status, p.allow, p.methods)
		}
	}
	for origin, want := range map[string]string{"https://app.example.com": "https://app.example.com", "https://evil.example.com": ""} {
		c.hdr["Origin"] = origin
		r := c.do("GET", "/api/me", nil)
		c.want(r, 200, "", "me from "+origin)
		if got := r.header.Get("Access-Control-Allow-Origin"); got != want {
			t.Errorf("GET /api/me from %s: allow-origin %q, want %q", origin, got, want)
		}
	}
	delete(c.hdr, "Origin")

	// Expiry closes an open socket with 1008 at exp.
	short := e.claims()
	short["exp"] = time.Now().Add(2 * time.Second).Unix()
	ws, _ = e.dial(ctx, "", http.Header{"Authorization": {"Bearer " + e.sign(short)}})
	start := time.Now()
	if code, reason := closeOf(ctx, t, ws); code != websocket.StatusPolicyViolation || reason != "token expired" {
		t.Errorf("at exp: closed with %d %q, want 1008 token expired", code, reason)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("closed %s after opening, for a token with 2 s left", took)
	}

	// Revoking the app closes its sockets and stops its tokens.
	ws, _ = e.dial(ctx, "?ticket="+ticket(), nil)
	e.admin.want(e.admin.do("DELETE", "/api/apps/"+e.appID, nil), 204, "", "revoke")
	if code, _ := closeOf(ctx, t, ws); code != websocket.StatusPolicyViolation {
		t.Errorf("revoked app's socket closed with %d, want 1008", code)
	}
	c.want(c.do("GET", "/api/docs/a", nil), 401, "unauthorized", "a revoked app's token")
	e.appClient().want(e.appClient().do("PUT", "/api/apps/docs/z", map[string]string{"title": "Z"}), 401, "unauthorized", "a revoked app's credentials")
	e.admin.want(e.admin.do("DELETE", "/api/apps/"+e.appID, nil), 404, "not_found", "revoke twice")
	var list struct{ Apps []store.App }
	r := e.admin.do("GET", "/api/apps", nil)
	r.json(t, &list)
	if len(list.Apps) != 1 || list.Apps[0].RevokedAt == nil {
		t.Errorf("apps after revoking: %+v", list.Apps)
	}
}

// TestAppRevokeFromCLI: on Postgres, `tandem app revoke` in another
// process tells the running servers, which close the app's open sockets
// at once (1008), not when their tokens expire.
func TestAppRevokeFromCLI(t *testing.T) {
	e := newAppEnvOn(t, "postgres")
	if e.srv.doorbell == nil {
		t.Fatal("no doorbell on Postgres")
	}
	select {
	case <-e.srv.doorbell.listening:
	case <-time.After(10 * time.Second):
		t.Fatal("the doorbell does not listen")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _ := e.dial(ctx, "", http.Header{"Authorization": {"Bearer " + e.sign(e.claims())}})
	code, out, errOut := tandem(t, "app", "revoke", e.appID, "--database-url", e.srv.cfg.db.url)
	if code != 0 || !strings.Contains(out, "revoked app "+e.appID) || errOut != "" {
		t.Fatalf("tandem app revoke: %d %q %q", code, out, errOut)
	}
	start := time.Now()
	if code, reason := closeOf(ctx, t, ws); code != websocket.StatusPolicyViolation {
		t.Errorf("after the CLI revoked the app: closed with %d %q, want 1008", code, reason)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the socket closed %s after the revocation", took)
	}
}

// TestTicketOnAnyNode: socket tickets are kept in the database, so a
// ticket issued by one node opens a socket on another (no sticky routing
// needed), once; and the database holds neither the ticket nor the JWT in
// the clear.
func TestTicketOnAnyNode(t *testing.T) {
	a, b := startPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	created, err := auth.CreateApp(ctx, a.backend.store, auth.AppRequest{Name: "Wiki"})
	if err != nil {
		t.Fatal(err)
	}
	e := &appEnv{t: t, srv: a, appID: created.App.ID, secret: created.Secret}
	app := e.appClient()
	app.want(app.do("PUT", "/api/apps/docs/a", map[string]string{"title": "A", "content": "hello"}), 201, "", "app creates a")
	jwtRaw := e.sign(e.claims())
	c := newClient(t, a)
	c.http.Jar = nil
	c.token = jwtRaw
	r := c.do("POST", "/api/socket-tickets", nil)
	c.want(r, 201, "", "a ticket from node A")
	var tk auth.TicketView
	r.json(t, &tk)

	var rows int
	var sealed string
	if err := a.backend.pg.Pool().QueryRow(ctx, `SELECT count(*), string_agg(encode(sealed, 'escape'), '') FROM socket_tickets`).Scan(&rows, &sealed); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || strings.Contains(sealed, jwtRaw) || strings.Contains(sealed, tk.Ticket) {
		t.Errorf("socket_tickets: %d rows, sealed %q: want one row holding neither the JWT nor the ticket", rows, sealed)
	}

	onB := &appEnv{t: t, srv: b}
	ws, status := onB.dial(ctx, "?ticket="+tk.Ticket, nil)
	if ws == nil {
		t.Fatalf("the ticket from A on B: %d", status)
	}
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"join","doc":"a"}`)); err != nil {
		t.Fatal(err)
	}
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(`"joined"`)) {
			if !bytes.Contains(data, []byte(`"content":"hello"`)) {
				t.Errorf("joined on B: %s", data)
			}
			break
		}
	}
	ws.Close(websocket.StatusNormalClosure, "")
	for _, node := range []*appEnv{e, onB} {
		if ws, status := node.dial(ctx, "?ticket="+tk.Ticket, nil); ws != nil || status != 401 {
			t.Errorf("the ticket used again: %d, want 401", status)
		}
	}
}
