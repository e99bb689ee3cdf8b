package collab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/sqlite3store"
	"github.com/alexedwards/scs/v2"
	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"tandem/auth"
	"tandem/migrations"
	"tandem/store"
	"tandem/store/postgres"
	"tandem/store/postgres/pgtest"
	"tandem/store/sqlite"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var backends = []string{"sqlite", "postgres"}

// env is a real server on loopback: a store, auth, the document API and the
// hub, behind the same middleware as tandem serve.
type env struct {
	t   testing.TB
	srv *httptest.Server
	hub *Hub
	st  store.Store
}

// openStore opens a fresh migrated store of the kind, and its session store.
func openStore(tb testing.TB, kind string) (store.Store, scs.Store) {
	tb.Helper()
	ctx := context.Background()
	switch kind {
	case "sqlite":
		db, err := sqlite.Open(ctx, tb.TempDir(), sqlite.Config{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		m, err := migrations.New(db.SQLDB(), migrations.SQLite)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := m.Up(ctx); err != nil {
			tb.Fatal(err)
		}
		return db, sqlite3store.NewWithCleanupInterval(db.SQLDB(), 0)
	case "postgres":
		db, err := postgres.Open(ctx, pgtest.Migrated(tb), postgres.Config{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		return db, pgxstore.NewWithCleanupInterval(db.Pool(), 0)
	}
	tb.Fatalf("unknown store %q", kind)
	return nil, nil
}

// testEngine is the engine configuration of the tests: short pings so that
// dead peers show quickly, generous login, sharing and body limits;
// everything else as in production.
func testEngine() Config {
	cfg := DefaultConfig()
	cfg.PingInterval = time.Second
	cfg.PingTimeout = time.Second
	cfg.Auth.LoginPerIP, cfg.Auth.LoginPerAccount = 10000, 10000
	cfg.Auth.MaxBodyBytes = 64 << 10
	cfg.MemberChangesPerMinute = 10000
	return cfg
}

func newEnv(tb testing.TB, kind string, cfg Config) *env {
	tb.Helper()
	return newEnvWrapped(tb, kind, cfg, nil)
}

// newEnvWrapped is newEnv with the store wrapped by wrap (if not nil), for
// tests that inject faults: the server and env.st use the wrapper.
func newEnvWrapped(tb testing.TB, kind string, cfg Config, wrap func(store.Store) store.Store) *env {
	tb.Helper()
	st, sessions := openStore(tb, kind)
	if wrap != nil {
		st = wrap(st)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sm := auth.NewSessionManager(sessions, auth.SessionConfig{Lifetime: time.Hour, IdleTimeout: time.Hour})
	cheap := auth.NewHasher(auth.Argon2Params{MemoryKiB: 1024, Passes: 1, Lanes: 1}, 4)
	a, err := auth.New(st, sm, cheap, cfg.Auth, log)
	if err != nil {
		tb.Fatal(err)
	}
	hub, err := NewHub(st, cfg, log, prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	api := NewDocsAPI(st, a, hub, log)
	mux := http.NewServeMux()
	a.Register(mux)
	api.Register(mux)
	srv := httptest.NewUnstartedServer(a.LoadSession(a.Authenticate(mux)))
	srv.Config.ConnContext = ConnContext
	srv.Start()
	e := &env{t: tb, srv: srv, hub: hub, st: st}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Close()
		if err := hub.Close(ctx); err != nil {
			tb.Errorf("hub close: %v", err)
		}
		a.Close()
	})
	return e
}

// shared signs up ann and bob and shares ann's new document, holding
// content, with bob as role.
func (e *env) shared(content string, role store.Role) (ann, bob *user, doc string) {
	e.t.Helper()
	ann, bob = e.signup("ann@example.com"), e.signup("bob@example.com")
	doc = ann.createDoc(content)
	ann.share(doc, bob, role)
	return ann, bob, doc
}

// solo signs up ann, makes her a document holding content, and opens her
// socket (not joined).
func (e *env) solo(content string) (ann *user, doc string, s *socket) {
	e.t.Helper()
	ann = e.signup("ann@example.com")
	doc = ann.createDoc(content)
	return ann, doc, ann.dial()
}

// user is a signed-in account: an HTTP client with its session cookie.
type user struct {
	id, email string
	http      *http.Client
	e         *env
}

func (e *env) signup(email string) *user {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	u := &user{email: email, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}, e: e}
	var out struct {
		User struct{ ID string } `json:"user"`
	}
	u.call("POST", "/api/signup", map[string]string{"email": email, "password": "correct horse", "name": strings.Split(email, "@")[0]}, 201, &out)
	u.id = out.User.ID
	return u
}

// call makes a JSON request and decodes the response into out (if not nil),
// failing unless the status is want.
func (u *user) call(method, path string, body any, want int, out any) {
	u.e.t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, u.e.srv.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := u.http.Do(req)
	if err != nil {
		u.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		u.e.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, data, want)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			u.e.t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
}

func (u *user) createDoc(content string) string {
	u.e.t.Helper()
	var d struct{ ID string }
	u.call("POST", "/api/docs", map[string]string{"title": "t", "content": content}, 201, &d)
	return d.ID
}

// share gives who the role on doc: a member's role changes at once (200);
// anyone else is invited (202) and accepts.
func (u *user) share(doc string, who *user, role store.Role) {
	u.e.t.Helper()
	body := map[string]string{"email": who.email, "role": string(role)}
	if _, err := u.e.st.Role(context.Background(), doc, who.id); err == nil {
		u.call("PUT", "/api/docs/"+doc+"/members", body, 200, nil)
		return
	}
	u.call("PUT", "/api/docs/"+doc+"/members", body, 202, nil)
	who.call("POST", "/api/invitations/"+doc+"/accept", nil, 200, nil)
}

// content is the document's text and version as the server has it.
func (u *user) content(doc string) (string, int64) {
	u.e.t.Helper()
	var c struct {
		Version int64
		Content string
	}
	u.call("GET", "/api/docs/"+doc+"/content", nil, 200, &c)
	return c.Content, c.Version
}

// socket is a raw protocol client: it splits frames into messages and
// hands them out in order.
type socket struct {
	t      testing.TB
	ws     *websocket.Conn
	msgs   chan map[string]any
	raw    chan json.RawMessage
	closed chan struct{}
	status websocket.StatusCode
	mu     sync.Mutex
}

// dial opens a socket as u, with the protocol's subprotocol.
func (u *user) dial() *socket {
	u.e.t.Helper()
	s, resp, err := u.tryDial(nil)
	if err != nil {
		u.e.t.Fatalf("dial: %v (%v)", err, resp)
	}
	return s
}

func (u *user) tryDial(header http.Header) (*socket, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{HTTPClient: u.http, HTTPHeader: header, Subprotocols: []string{Subprotocol}}
	if header != nil && header.Get("X-No-Subprotocol") != "" {
		opts.Subprotocols = nil
		header.Del("X-No-Subprotocol")
	}
	ws, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(u.e.srv.URL, "http")+"/api/socket", opts)
	if err != nil {
		return nil, resp, err
	}
	ws.SetReadLimit(64 << 20)
	s := &socket{t: u.e.t, ws: ws, msgs: make(chan map[string]any, 100000), closed: make(chan struct{})}
	go s.readLoop()
	return s, resp, nil
}

func (s *socket) readLoop() {
	defer close(s.closed)
	for {
		_, data, err := s.ws.Read(context.Background())
		if err != nil {
			s.mu.Lock()
			s.status = websocket.CloseStatus(err)
			s.mu.Unlock()
			return
		}
		var batch []map[string]any
		if len(data) > 0 && data[0] == '[' {
			if err := json.Unmarshal(data, &batch); err != nil {
				panic(fmt.Sprintf("bad frame %s: %v", data, err))
			}
		} else {
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				panic(fmt.Sprintf("bad frame %s: %v", data, err))
			}
			batch = append(batch, m)
		}
		for _, m := range batch {
			s.msgs <- m
		}
	}
}

// send sends msg as JSON. Safe from any goroutine: a message that does not
// encode fails the test with Errorf (t.Fatal is for the test goroutine only)
// and is not sent.
func (s *socket) send(msg any) {
	s.t.Helper()
	data, err := json.Marshal(msg)
	if err != nil {
		s.t.Errorf("encode %v: %v", msg, err)
		return
	}
	s.sendRaw(data)
}

func (s *socket) sendRaw(data []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.ws.Write(ctx, websocket.MessageText, data) // a closed socket shows in the reads
}

// next returns the next message of one of the types, skipping others
// (presence, unless asked for), or fails the test after a timeout: from
// the test goroutine only, as it calls t.Fatal.
func (s *socket) next(types ...string) map[string]any {
	s.t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case m := <-s.msgs:
			for _, t := range types {
				if m["type"] == t {
					return m
				}
			}
		case <-s.closed:
			// Drain what arrived before the close.
			select {
			case m := <-s.msgs:
				for _, t := range types {
					if m["type"] == t {
						return m
					}
				}
				continue
			default:
			}
			s.t.Fatalf("socket closed (%d) while waiting for %v", s.closeStatus(), types)
		case <-timeout:
			s.t.Fatalf("no %v message within 15s", types)
		}
	}
}

func (s *socket) closeStatus() websocket.StatusCode {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// waitClosed waits for the server to close the socket and returns the code.
func (s *socket) waitClosed() websocket.StatusCode {
	s.t.Helper()
	select {
	case <-s.closed:
		return s.closeStatus()
	case <-time.After(15 * time.Second):
		s.t.Fatal("the server did not close the socket")
		return 0
	}
}

func (s *socket) close() { s.ws.CloseNow() }

// join joins doc (at version, or -1 for the content) and returns joined.
func (s *socket) join(doc string, version int64) map[string]any {
	s.t.Helper()
	msg := map[string]any{"type": "join", "doc": doc}
	if version >= 0 {
		msg["version"] = version
	}
	s.send(msg)
	return s.next("joined", "error")
}

func num(v any) int64 { f, _ := v.(float64); return int64(f) }

// benchConn is a connection without a socket: a goroutine drains its queue
// as a fast client would, and signals each ack.
func benchConn(h *Hub, name string) (*Conn, chan int64) {
	c := &Conn{
		hub:      h,
		session:  name,
		user:     store.User{ID: name, Name: name},
		info:     UserInfo{ID: name, Name: name, Color: colorOf(name)},
		out:      newOutbox(h.cfg.OutQueue, true, h.cfg.BehindAfter),
		kicked:   make(chan struct{}),
		finished: make(chan struct{}),
		writing:  true, // never served: the goroutine below drains the queue
	}
	acks := make(chan int64, 1024)
	go func() {
		ackPrefix := []byte(`{"type":"ack"`)
		var batch [][]byte
		for {
			select {
			case <-c.out.ready:
				batch = c.out.take(batch[:0], maxFrameMsgs)
				for _, m := range batch {
					if bytes.HasPrefix(m, ackPrefix) {
						var a ackMsg
						_ = json.Unmarshal(m, &a)
						acks <- a.Version
					}
				}
			case <-c.kicked:
				return
			}
		}
	}()
	return c, acks
}

// storeDoc makes a user and a document of theirs directly in st.
func storeDoc(tb testing.TB, st store.Store) (store.User, store.Document) {
	tb.Helper()
	ctx := context.Background()
	u, err := st.CreateUser(ctx, store.NewUser{Email: "owner@example.com", Name: "Owner", PasswordHash: "h"})
	if err != nil {
		tb.Fatal(err)
	}
	d, err := st.CreateDocument(ctx, store.NewDocument{OwnerID: u.ID, Title: "t"})
	if err != nil {
		tb.Fatal(err)
	}
	return u, d
}

// history reads a document's stored ops, for an editor that meets a
// composed op while its edits are pending.
func (e *env) history(doc string) func(from, to int64) ([]store.OpRecord, error) {
	return func(from, to int64) ([]store.OpRecord, error) {
		return e.st.Ops(context.Background(), doc, from, to, store.Page{})
	}
}
