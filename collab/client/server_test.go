package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/alexedwards/scs/sqlite3store"
	"github.com/prometheus/client_golang/prometheus"

	"tandem/auth"
	"tandem/collab"
	"tandem/migrations"
	"tandem/store"
	"tandem/store/sqlite"
)

// tb is what the helpers need of a test: testing.TB, or exampleTB for
// the package example, which has no *testing.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// server is a real Tandem server on loopback, on a fresh SQLite store: the
// auth and document APIs and the hub, wired as tandem serve wires them.
type server struct {
	t   tb
	URL string
	hub *collab.Hub
	st  store.Store
}

// startServer starts a server with the engine configuration cfg (nil: the
// defaults with generous limits for tests).
func startServer(tb tb, tune func(*collab.Config)) *server {
	tb.Helper()
	ctx := context.Background()
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
	cfg := collab.DefaultConfig()
	cfg.PingInterval, cfg.PingTimeout = time.Second, time.Second
	cfg.Auth.LoginPerIP, cfg.Auth.LoginPerAccount = 10000, 10000
	cfg.MemberChangesPerMinute = 10000
	if tune != nil {
		tune(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sm := auth.NewSessionManager(sqlite3store.NewWithCleanupInterval(db.SQLDB(), 0), auth.SessionConfig{Lifetime: time.Hour, IdleTimeout: time.Hour})
	cheap := auth.NewHasher(auth.Argon2Params{MemoryKiB: 1024, Passes: 1, Lanes: 1}, 4)
	a, err := auth.New(db, sm, cheap, cfg.Auth, log)
	if err != nil {
		tb.Fatal(err)
	}
	hub, err := collab.NewHub(db, cfg, log, prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	a.Register(mux)
	collab.NewDocsAPI(db, a, hub, log).Register(mux)
	srv := httptest.NewUnstartedServer(a.LoadSession(a.Authenticate(mux)))
	srv.Config.ConnContext = collab.ConnContext
	srv.Start()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Close()
		if err := hub.Close(ctx); err != nil {
			tb.Errorf("hub close: %v", err)
		}
		a.Close()
	})
	return &server{t: tb, URL: srv.URL, hub: hub, st: db}
}

// account is a signed-up user: an HTTP client holding its session cookie.
type account struct {
	s    *server
	id   string
	http *http.Client
}

func (s *server) signup(email string) *account {
	s.t.Helper()
	jar, _ := cookiejar.New(nil)
	a := &account{s: s, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	var out struct {
		User struct{ ID string } `json:"user"`
	}
	a.call("POST", "/api/signup", map[string]string{"email": email, "password": "correct horse", "name": strings.Split(email, "@")[0]}, 201, &out)
	a.id = out.User.ID
	return a
}

// call makes a JSON request, failing unless the status is want.
func (a *account) call(method, path string, body any, want int, out any) {
	a.s.t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(method, a.s.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		a.s.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		a.s.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, data, want)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			a.s.t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
}

// token makes an API token for a.
func (a *account) token() string {
	a.s.t.Helper()
	var out struct{ Token string }
	a.call("POST", "/api/tokens", map[string]string{"name": "test"}, 201, &out)
	return out.Token
}

func (a *account) createDoc(content string) string {
	a.s.t.Helper()
	var d struct{ ID string }
	a.call("POST", "/api/docs", map[string]string{"title": "t", "content": content}, 201, &d)
	return d.ID
}

// share makes who an editor of doc (an invitation, accepted).
func (a *account) share(doc string, who *account, email string) {
	a.s.t.Helper()
	a.call("PUT", "/api/docs/"+doc+"/members", map[string]string{"email": email, "role": "editor"}, 202, nil)
	who.call("POST", "/api/invitations/"+doc+"/accept", nil, 200, nil)
}

// content is the document's text and version as the server has it.
func (a *account) content(doc string) (string, int64) {
	a.s.t.Helper()
	var c struct {
		Version int64
		Content string
	}
	a.call("GET", "/api/docs/"+doc+"/content", nil, 200, &c)
	return c.Content, c.Version
}

// dial connects as a with its session cookie.
func (a *account) dial(opts Options) *Conn {
	a.s.t.Helper()
	if opts.HTTPClient == nil && opts.Token == "" {
		opts.HTTPClient = a.http
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, a.s.URL, opts)
	if err != nil {
		a.s.t.Fatal(err)
	}
	a.s.t.Cleanup(func() { c.Close() })
	return c
}

// open opens doc on c, failing the test on error.
func open(tb tb, c *Conn, doc string) *Doc {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := c.Open(ctx, doc)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// ctxT is a context that ends with a generous test timeout.
func ctxT(tb tb) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	tb.Cleanup(cancel)
	return ctx
}
