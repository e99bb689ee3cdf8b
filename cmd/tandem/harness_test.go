package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"tandem/auth"
	"tandem/docs"
	"tandem/store/httpapi"
	"tandem/store/postgres/pgtest"
)

// backends are the stores every HTTP test runs against.
var backends = []string{"sqlite", "postgres"}

// testConfig is a serve configuration for tests: the serve flags parsed
// from args, then port 0, the given store, cheap password hashing, and
// generous login limits.
func testConfig(t *testing.T, kind string, args ...string) serveConfig {
	t.Helper()
	var cfg serveConfig
	fs := newFlagSet("test", "", io.Discard)
	cfg.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	cfg.addr = "127.0.0.1:0"
	cfg.migrate = true
	cfg.argon2 = auth.Argon2Params{MemoryKiB: 1024, Passes: 1, Lanes: 1}
	cfg.collab.Auth.LoginPerIP, cfg.collab.Auth.LoginPerAccount = 1000, 1000
	switch kind {
	case "sqlite":
		cfg.db.dataDir = t.TempDir()
	case "postgres":
		cfg.db.url = pgtest.Empty(t)
	default:
		t.Fatalf("unknown backend %q", kind)
	}
	return cfg
}

// startServer runs a server with cfg until the test ends.
func startServer(t *testing.T, cfg serveConfig) *server {
	t.Helper()
	var logs io.Writer = io.Discard
	if testing.Verbose() {
		logs = &testWriter{t: t}
	}
	return startServerLogging(t, cfg, logs)
}

// startServerLogging runs a server with cfg, logging to logs, until the
// test ends.
func startServerLogging(t *testing.T, cfg serveConfig, logs io.Writer) *server {
	t.Helper()
	srv, err := newServer(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return srv
}

// tokenClient makes an API token as owner and returns a client that uses
// it alone (no cookies).
func tokenClient(t *testing.T, srv *server, owner *client) (*client, string) {
	t.Helper()
	r := owner.do("POST", "/api/tokens", map[string]string{"name": "script"})
	owner.want(r, 201, "", "create token")
	var tok struct {
		Secret string `json:"token"`
	}
	r.json(t, &tok)
	prog := newClient(t, srv)
	prog.http.Jar = nil
	prog.token = tok.Secret
	return prog, tok.Secret
}

type testWriter struct {
	mu sync.Mutex
	t  *testing.T
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// client is a browser-like API client: it keeps cookies, and every request
// and response it makes is checked against the OpenAPI description.
type client struct {
	t     *testing.T
	base  string
	http  *http.Client
	token string            // sent as a bearer token if set
	hdr   map[string]string // extra headers
}

func newClient(t *testing.T, srv *server) *client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &client{
		t:    t,
		base: srv.URL(),
		http: &http.Client{Jar: jar, Transport: &specCheck{t: t, next: http.DefaultTransport}, Timeout: 30 * time.Second},
		hdr:  map[string]string{},
	}
}

// response is a finished request: status, headers and decoded JSON body.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into v.
func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// code is the error code of an error response, or "".
func (r response) code() string {
	var e httpapi.ErrorBody
	_ = json.Unmarshal(r.body, &e)
	return string(e.Code)
}

// do sends a request; body is JSON-encoded unless it is a string or nil.
func (c *client) do(method, path string, body any) response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range c.hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// want fails the test unless the response has the status (and, for errors,
// the code).
func (c *client) want(r response, status int, code string, what string) {
	c.t.Helper()
	if r.status != status || (code != "" && r.code() != code) {
		c.t.Fatalf("%s: got %d %s, want %d %s", what, r.status, r.body, status, code)
	}
}

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

// spec loads the embedded OpenAPI description once.
func spec(t *testing.T) routers.Router {
	t.Helper()
	specOnce.Do(func() {
		// Exports come as Markdown too: plain text to the checker.
		openapi3filter.RegisterBodyDecoder("text/markdown", openapi3filter.PlainBodyDecoder)
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(docs.OpenAPI)
		if err != nil {
			specErr = err
			return
		}
		if specErr = doc.Validate(context.Background()); specErr != nil {
			return
		}
		specRouter, specErr = legacy.NewRouter(doc)
	})
	if specErr != nil {
		t.Fatalf("openapi.json: %v", specErr)
	}
	return specRouter
}

// specCheck validates every request and response against the OpenAPI
// description, so the description cannot drift from the handlers.
type specCheck struct {
	t    *testing.T
	next http.RoundTripper
}

func (s *specCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := s.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	respBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(respBody))

	route, params, err := spec(s.t).FindRoute(req)
	if err != nil {
		// Only the catch-all for unknown API paths may be undescribed, and it
		// must answer with the error shape.
		var e httpapi.ErrorBody
		if resp.StatusCode != http.StatusNotFound || json.Unmarshal(respBody, &e) != nil || e.Code != "not_found" {
			s.t.Errorf("OpenAPI: %s %s is not described: %v", req.Method, req.URL.Path, err)
		}
		return resp, nil
	}
	// Requests the server refused on purpose (malformed, oversized, wrong
	// type) need not match the described request; their responses must.
	check := &http.Request{Method: req.Method, URL: req.URL, Header: req.Header,
		Body: io.NopCloser(bytes.NewReader(reqBody)), ContentLength: int64(len(reqBody))}
	in := &openapi3filter.RequestValidationInput{
		Request: check, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true},
	}
	if resp.StatusCode < 400 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			s.t.Errorf("OpenAPI: request %s %s %s: %v", req.Method, req.URL.Path, reqBody, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body:    io.NopCloser(bytes.NewReader(respBody)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		s.t.Errorf("OpenAPI: response to %s %s (%d %s): %v", req.Method, req.URL.Path, resp.StatusCode, respBody, err)
	}
	return resp, nil
}

// decodeFrame reads a server frame: one message, or an array of them.
func decodeFrame(data []byte) ([]map[string]any, error) {
	var msgs []map[string]any
	if len(data) > 0 && data[0] == '[' {
		err := json.Unmarshal(data, &msgs)
		return msgs, err
	}
	var m map[string]any
	err := json.Unmarshal(data, &m)
	return append(msgs, m), err
}
