package main

// Regression tests for the findings of the hardening review (issue 13): each
// reproduces an attack that used to succeed against default settings.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Request methods are any token a client likes; they must not become metric
// series (which are never freed) or fill the log.
func TestMetricsLabelsAreBounded(t *testing.T) {
	srv := startServer(t, testConfig(t, "sqlite"))
	metricsSize := func() int {
		resp, err := http.Get(srv.URL() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("metrics: %d", resp.StatusCode)
		}
		if strings.Contains(string(body), "XMETHOD") {
			t.Fatalf("a client's method name became a label value")
		}
		return len(body)
	}
	metricsSize()
	before := metricsSize()
	for i := range 50 {
		method := fmt.Sprintf("XMETHOD%d%s", i, strings.Repeat("Z", 2000))
		req, err := http.NewRequest(method, srv.URL()+"/api/docs", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// One new series (method "other") may appear; 50 × 2 KB may not.
	if after := metricsSize(); after > before+2000 {
		t.Errorf("/metrics grew from %d to %d bytes after 50 odd methods", before, after)
	}
}

// --metrics-addr moves /metrics off the public address.
func TestMetricsAddr(t *testing.T) {
	cfg := testConfig(t, "sqlite")
	cfg.metricsAddr = "127.0.0.1:0"
	srv := startServer(t, cfg)
	resp, err := http.Get(srv.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Errorf("public /metrics answered 200 with --metrics-addr set")
	}
	resp, err = http.Get("http://" + srv.metrics.addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "tandem_http_requests_total") {
		t.Errorf("metrics listener: %d %.200s", resp.StatusCode, body)
	}
}

// A client that trickles a request body one byte at a time must not hold
// its connection for ever; a socket, once upgraded, is not cut by that
// timeout.
func TestReadTimeout(t *testing.T) {
	cfg := testConfig(t, "sqlite")
	cfg.readTimeout = time.Second
	srv := startServer(t, cfg)
	addr := strings.TrimPrefix(srv.URL(), "http://")

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n", addr)
	start := time.Now()
	closed := false
	for time.Since(start) < 5*time.Second {
		if _, err := conn.Write([]byte(" ")); err != nil {
			closed = true
			break
		}
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		var b [1]byte
		if _, err := conn.Read(b[:]); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			closed = true // answered or closed: either way the server let go
			break
		} else if err == nil {
			closed = true
			break
		}
	}
	if !closed {
		t.Fatalf("a body trickled for 5 s was still being read (read timeout 1 s)")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the trickling client was let go after %v, want about 1 s", took)
	}

	ann, _ := signup(t, srv, "ann@example.com")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL(), "http")+"/api/socket",
		&websocket.DialOptions{HTTPClient: &http.Client{Jar: ann.http.Jar}, Subprotocols: []string{"tandem.v1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if _, _, err := ws.Read(ctx); err != nil { // hello
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"join","doc":"nope"}`)); err != nil {
		t.Fatalf("write after the read timeout: %v", err)
	}
	if _, data, err := ws.Read(ctx); err != nil || !strings.Contains(string(data), "not_found") {
		t.Fatalf("socket after the read timeout: %s %v", data, err)
	}
}

// An Origin is scheme, host and port: a page on https://host:port (or a
// ws:// "origin") is not the http://host:port server's own, on the socket
// and on REST alike, cookie or not.
func TestOriginSchemeChecked(t *testing.T) {
	srv := startServer(t, testConfig(t, "sqlite"))
	ann, _ := signup(t, srv, "ann@example.com")
	hostPort := strings.TrimPrefix(srv.URL(), "http://")
	for _, origin := range []string{"https://" + hostPort, "ws://" + hostPort, "null", "http://" + hostPort + ".evil.example"} {
		ann.hdr["Origin"] = origin
		ann.want(ann.do("POST", "/api/docs", map[string]string{"title": "forged"}), 403, "forbidden", "POST from origin "+origin)
		if _, resp, err := dialWithHeader(ann, http.Header{"Origin": {origin}}); err == nil || resp == nil || resp.StatusCode != 403 {
			t.Errorf("socket from origin %s: %v; want 403", origin, err)
		}
	}
	for _, origin := range []string{srv.URL(), strings.ToUpper(srv.URL()), ""} {
		ann.hdr["Origin"] = origin
		ann.want(ann.do("POST", "/api/docs", map[string]string{"title": "mine"}), 201, "", "POST from origin "+origin)
		ws, _, err := dialWithHeader(ann, http.Header{"Origin": {origin}})
		if err != nil {
			t.Errorf("socket from own origin %q: %v", origin, err)
			continue
		}
		ws.CloseNow()
	}

	// Behind a proxy, the configured public URL is the server's origin.
	cfg := testConfig(t, "sqlite")
	cfg.publicURL = "https://docs.example.com"
	srv = startServer(t, cfg)
	bob, _ := signup(t, srv, "bob@example.com")
	bob.hdr["Origin"] = "https://docs.example.com"
	bob.want(bob.do("POST", "/api/docs", map[string]string{"title": "via proxy"}), 201, "", "POST from the public URL")
	if ws, _, err := dialWithHeader(bob, http.Header{"Origin": {"https://docs.example.com"}}); err != nil {
		t.Errorf("socket from the public URL: %v", err)
	} else {
		ws.CloseNow()
	}
	bob.hdr["Origin"] = "http://docs.example.com"
	bob.want(bob.do("POST", "/api/docs", map[string]string{"title": "forged"}), 403, "forbidden", "POST from the public host over http")
	bob.hdr["Origin"] = srv.URL()
	bob.want(bob.do("POST", "/api/docs", map[string]string{"title": "forged"}), 403, "forbidden", "POST from the internal address")
}

// dialWithHeader opens a socket as c with extra handshake headers.
func dialWithHeader(c *client, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return websocket.Dial(ctx, "ws"+strings.TrimPrefix(c.base, "http")+"/api/socket",
		&websocket.DialOptions{HTTPClient: &http.Client{Jar: c.http.Jar}, Subprotocols: []string{"tandem.v1"}, HTTPHeader: hdr})
}

// A wrong password guessed from one address must not lock the account's
// owner out from another; JSON answers carry nosniff; an API token cannot
// mint more tokens.
func TestSmallerFindings(t *testing.T) {
	cfg := testConfig(t, "sqlite")
	cfg.collab.Auth.LoginPerIP, cfg.collab.Auth.LoginPerAccount = 100, 3
	srv := startServer(t, cfg)
	ann, _ := signup(t, srv, "ann@example.com")
	guesser := newClient(t, srv)
	for i := range 4 {
		guesser.do("POST", "/api/login", map[string]string{"email": "ann@example.com", "password": fmt.Sprint("guess ", i)})
	}
	guesser.want(guesser.do("POST", "/api/login", map[string]string{"email": "ann@example.com", "password": "correct horse"}), 429, "rate_limited", "the guesser's address")
	owner := newClient(t, srv)
	owner.http.Transport.(*specCheck).next = &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}
	owner.want(owner.do("POST", "/api/login", map[string]string{"email": "ann@example.com", "password": "correct horse"}), 200, "", "the owner from another address")

	for _, r := range []response{ann.do("GET", "/api/me", nil), guesser.do("GET", "/api/me", nil), ann.do("GET", "/api/nothing", nil)} {
		if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("response %d %s: X-Content-Type-Options = %q", r.status, r.body, got)
		}
	}

	var tok struct {
		Token string `json:"token"`
	}
	r := ann.do("POST", "/api/tokens", map[string]string{"name": "ci"})
	ann.want(r, 201, "", "token from a session")
	r.json(t, &tok)
	prog := newClient(t, srv)
	prog.token = tok.Token
	prog.want(prog.do("POST", "/api/tokens", map[string]string{"name": "another"}), 403, "forbidden", "token minted by a token")
	prog.want(prog.do("GET", "/api/tokens", nil), 200, "", "a token lists tokens")
}

// History cannot be used to make the server build huge responses: a page of
// ops is bounded in bytes as well as in ops, and one user can neither post
// ops faster than a socket may nor grow storage without bound.
func TestHistoryIsBounded(t *testing.T) {
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) {
			cfg := testConfig(t, kind)
			cfg.collab.MaxPageBytes = 1 << 20
			cfg.collab.WriteBytesPerMin = 4 << 20
			cfg.collab.OpsPerSecond, cfg.collab.OpsBurst = 1, 30
			srv := startServer(t, cfg)
			ann, _ := signup(t, srv, "ann@example.com")
			var d docBody
			r := ann.do("POST", "/api/docs", map[string]string{"title": "big"})
			ann.want(r, 201, "", "create")
			r.json(t, &d)

			chunk := strings.Repeat("x", 300<<10)
			version, posted := int64(0), 0
			for i := range 20 {
				op := []any{chunk} // replaces the text: the document stays small, its history grows
				if version > 0 {
					op = append(op, -len(chunk))
				}
				r := ann.do("POST", "/api/docs/"+d.ID+"/ops", map[string]any{"version": version, "id": fmt.Sprint("big", i), "op": op})
				if r.status == 429 {
					if r.code() != "rate_limited" || r.header.Get("Retry-After") == "" {
						t.Fatalf("over the write budget: %d %s (Retry-After %q)", r.status, r.body, r.header.Get("Retry-After"))
					}
					break
				}
				ann.want(r, 200, "", "post a big op")
				version++
				posted++
			}
			if posted < 8 || posted > 15 {
				t.Fatalf("posted %d ops of 300 KB before the 4 MB/min write budget refused one; want about 13", posted)
			}

			// Pages: at most about 1 MB each, next where one stops, every
			// version exactly once.
			seen := int64(0)
			for from, pages := int64(1), 0; ; pages++ {
				if pages > posted {
					t.Fatalf("more pages than ops")
				}
				r := ann.do("GET", fmt.Sprintf("/api/docs/%s/ops?from=%d", d.ID, from), nil)
				ann.want(r, 200, "", "page")
				if len(r.body) > (1<<20)+1024 {
					t.Errorf("a page of %d bytes; the limit is 1 MiB", len(r.body))
				}
				var page struct {
					Ops []struct {
						Version int64 `json:"version"`
					} `json:"ops"`
					Next *int64 `json:"next"`
				}
				r.json(t, &page)
				for _, op := range page.Ops {
					if op.Version != seen+1 {
						t.Fatalf("page from %d holds version %d after %d", from, op.Version, seen)
					}
					seen++
				}
				if page.Next == nil {
					break
				}
				if *page.Next != seen+1 {
					t.Fatalf("next = %d after version %d", *page.Next, seen)
				}
				from = *page.Next
			}
			if seen != int64(posted) {
				t.Errorf("pages held %d ops, want %d", seen, posted)
			}
		})
	}

	// Creating documents spends the same budget.
	cfg := testConfig(t, "sqlite")
	cfg.collab.WriteBytesPerMin = 3 << 20
	srv := startServer(t, cfg)
	cat, _ := signup(t, srv, "cat@example.com")
	big := strings.Repeat("z", 1<<20)
	for i := range 3 {
		cat.want(cat.do("POST", "/api/docs", map[string]string{"title": fmt.Sprint(i), "content": big[:len(big)-100]}), 201, "", "a 1 MB document within the budget")
	}
	r := cat.do("POST", "/api/docs", map[string]string{"title": "more", "content": big[:len(big)-100]})
	cat.want(r, 429, "rate_limited", "a fourth 1 MB document in a minute with a 3 MB budget")

	// POST .../ops is limited per user like a socket's ops.
	cfg = testConfig(t, "sqlite")
	cfg.collab.OpsPerSecond, cfg.collab.OpsBurst = 1, 2
	srv = startServer(t, cfg)
	bob, _ := signup(t, srv, "bob@example.com")
	var d docBody
	r = bob.do("POST", "/api/docs", map[string]string{"title": "t"})
	r.json(t, &d)
	for i := range 2 {
		op := []any{"a"}
		if i > 0 {
			op = append(op, i)
		}
		bob.want(bob.do("POST", "/api/docs/"+d.ID+"/ops", map[string]any{"version": i, "id": fmt.Sprint("o", i), "op": op}), 200, "", "op within the burst")
	}
	r = bob.do("POST", "/api/docs/"+d.ID+"/ops", map[string]any{"version": 2, "id": "o2", "op": []any{"a", 2}})
	bob.want(r, 429, "rate_limited", "third op at once with a burst of 2")
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
}
