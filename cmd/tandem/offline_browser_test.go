package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Edits that survive a reload (issue 18, item 6): the web page keeps its
// pending edits in IndexedDB (frontend/client/persist.js) and sends them,
// under their original op ids, when the document is opened again. These
// tests type while the socket is down, then reload the page, or restart the
// browser on the same profile, or open two tabs, and check through REST
// that every typed string landed exactly once.
//
// "Offline" is a proxy the test controls (socketGate): it refuses the
// WebSocket and cuts the open ones, while it still serves the page and the
// REST API. Cutting everything (as flakyProxy does) would keep the reload
// from loading the page at all, as Tandem has no service worker, and the
// point here is that the reloaded page, not the old one, sends the edits.

// socketGate is an HTTP proxy in front of a server that can take the
// real-time socket down: /api/socket is then refused (503) and open
// sockets are cut. Everything else goes through.
type socketGate struct {
	ln   net.Listener
	http *http.Server

	mu      sync.Mutex
	down    bool
	sockets map[net.Conn]bool // client connections that carry a socket
}

type connKey struct{}

func startGate(t *testing.T, target string) *socketGate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &socketGate{ln: ln, sockets: map[net.Conn]bool{}}
	proxy := httputil.NewSingleHostReverseProxy(u)
	g.http = &http.Server{
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/api/socket" {
				g.mu.Lock()
				down := g.down
				if !down {
					g.sockets[r.Context().Value(connKey{}).(net.Conn)] = true
				}
				g.mu.Unlock()
				if down {
					http.Error(w, `{"code":"unavailable","message":"the test took the socket down"}`, http.StatusServiceUnavailable)
					return
				}
			}
			proxy.ServeHTTP(w, r)
		}),
	}
	go func() { _ = g.http.Serve(ln) }()
	t.Cleanup(func() {
		g.setDown(true)
		_ = g.http.Close()
	})
	return g
}

func (g *socketGate) URL() string { return "http://" + g.ln.Addr().String() }

// setDown takes the socket down (cutting open ones) or lets it up again.
func (g *socketGate) setDown(down bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = down
	if down {
		for c := range g.sockets {
			c.Close()
		}
		clear(g.sockets)
	}
}

// newTab opens another tab in the browser context of parent (same cookies
// and storage), failing the test on uncaught exceptions in it.
func newTab(t *testing.T, parent context.Context, name string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent)
	return watchPage(t, ctx, cancel, name)
}

// watchPage starts a tab's target and logs its console, as openPage does.
func watchPage(t *testing.T, ctx context.Context, cancel context.CancelFunc, name string) *page {
	t.Helper()
	p := &page{t: t, name: name, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: open tab: %v", name, err)
	}
	done := make(chan struct{})
	messages := chromedp.Console(ctx)
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleException {
				p.mu.Lock()
				p.exceptions = append(p.exceptions, m.Text)
				p.mu.Unlock()
			}
			t.Logf("%s console %s", name, m)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		for _, e := range p.exceptions {
			t.Errorf("%s: uncaught exception in the page: %s", name, e)
		}
	})
	return p
}

// offlineDoc signs p up at base, creates a document, types a first line
// online and waits until the server has it. It returns the document's id.
func offlineDoc(t *testing.T, srv *server, p *page, base, email string) string {
	t.Helper()
	p.signUp(base, "Olive Offline", email)
	p.do(
		chromedp.SendKeys(".new-doc input", "Notes"),
		chromedp.Click(".new-doc button"),
	)
	p.waitJoined()
	docID := strings.TrimPrefix(eval[string](p, "location.pathname"), "/d/")
	if err := p.typeAt("end", "Typed online.\n"); err != nil {
		t.Fatal(err)
	}
	converge(t, srv, docID, p)
	return docID
}

// typeOffline takes the socket down, types each string (the first at the
// end, the others at the start) and waits until the page has kept them.
func typeOffline(t *testing.T, srv *server, gate *socketGate, p *page, docID string, typed ...string) {
	t.Helper()
	gate.setDown(true)
	p.waitFor(`document.querySelector(".status").dataset.connection !== "online"`, "the page to see the socket down", 10*time.Second)
	for i, s := range typed {
		where := "start"
		if i == 0 {
			where = "end"
		}
		if err := p.typeAt(where, s); err != nil {
			t.Fatal(err)
		}
	}
	p.waitFor(`window.tandem.pending() && window.tandem.stored()`, "the edits kept in IndexedDB", 10*time.Second)
	if n := storedRecords(p); n != 1 {
		t.Errorf("%s: %d records in IndexedDB, want 1", p.name, n)
	}
	if status := eval[string](p, `document.querySelector(".status").textContent`); status != "Offline · edits kept on this device" {
		t.Errorf("%s: status while offline: %q", p.name, status)
	}
	for _, s := range typed {
		if strings.Contains(serverText(t, srv, docID), s) {
			t.Fatalf("%q reached the server while the socket was down", s)
		}
	}
}

// waitKeptEdits waits until the page has its document open with edits
// pending and every one of typed in its text: the edits it kept offline.
func waitKeptEdits(p *page, what string, typed ...string) {
	expr := "!!window.tandem && window.tandem.pending()"
	for _, s := range typed {
		expr += " && window.tandem.text().includes(" + jsString(s) + ")"
	}
	p.waitFor(expr, what, 15*time.Second)
}

// comeOnline lets the socket up and tells the pages the network is back
// (the browser's online event, which the client answers by reconnecting
// at once rather than after its backoff).
func comeOnline(gate *socketGate, pages ...*page) {
	gate.setDown(false)
	for _, p := range pages {
		eval[bool](p, `window.dispatchEvent(new Event("online"))`)
	}
}

// history reads a document's content and ops over REST as email.
func history(t *testing.T, srv *server, email, docID string) (content string, ops []opRec) {
	t.Helper()
	c := newClient(t, srv)
	c.want(c.do("POST", "/api/login", map[string]string{"email": email, "password": "correct horse battery"}), 200, "", "log in")
	r := c.do("GET", "/api/docs/"+docID+"/content", nil)
	c.want(r, 200, "", "content")
	var body struct {
		Content string `json:"content"`
		Version int64  `json:"version"`
	}
	r.json(t, &body)
	for from := int64(1); from <= body.Version; {
		r := c.do("GET", fmt.Sprintf("/api/docs/%s/ops?from=%d&to=%d", docID, from, body.Version), nil)
		c.want(r, 200, "", "ops")
		var page struct {
			Ops  []opRec `json:"ops"`
			Next *int64  `json:"next"`
		}
		r.json(t, &page)
		ops = append(ops, page.Ops...)
		if page.Next == nil {
			break
		}
		from = *page.Next
	}
	if int64(len(ops)) != body.Version {
		t.Fatalf("history: %d ops for version %d", len(ops), body.Version)
	}
	return body.Content, ops
}

type opRec struct {
	Version int64           `json:"version"`
	ID      string          `json:"id"`
	User    string          `json:"user"`
	Op      json.RawMessage `json:"op"`
}

// landedOnce checks that each typed string is in the content exactly once,
// and that the edits made offline arrived as exactly want ops after
// version before (the outstanding op and the buffer), with distinct ids.
func landedOnce(t *testing.T, srv *server, email, docID string, before int64, want int, typed ...string) {
	t.Helper()
	content, ops := history(t, srv, email, docID)
	for _, s := range typed {
		if n := strings.Count(content, s); n != 1 {
			t.Errorf("%q is in the document %d times: %q", s, n, content)
		}
	}
	after := ops[before:]
	if len(after) != want {
		t.Errorf("%d ops after version %d, want %d: %+v", len(after), before, want, after)
	}
	ids := map[string]bool{}
	for _, o := range ops {
		if ids[o.ID] {
			t.Errorf("op id %q twice in the history", o.ID)
		}
		ids[o.ID] = true
	}
}

func TestBrowserOfflineReload(t *testing.T) {
	browserPath := chromiumPath(t)
	srv := startServer(t, testConfig(t, "postgres"))
	gate := startGate(t, srv.URL())
	browser := startBrowser(t, browserPath)
	p := openPage(t, browser, "olive")
	docID := offlineDoc(t, srv, p, gate.URL(), "olive@example.com")
	before := eval[int64](p, "window.tandem.version()")

	typed := []string{"Written offline ✈️, then reloaded.", "[typed at the start offline] "}
	typeOffline(t, srv, gate, p, docID, typed...)
	// The reload loads the page (the proxy serves it) but not the socket.
	p.do(chromedp.Reload())
	waitKeptEdits(p, "the kept edits back in the reloaded page", typed...)
	if got := eval[string](p, `document.querySelector(".status").dataset.connection`); got == "online" {
		t.Fatal("the socket is up after the reload")
	}
	p.waitFor(`document.querySelector(".status").textContent === "Offline · edits kept on this device"`, "the status of the restored edits", 5*time.Second)
	if got := eval[string](p, `document.querySelector(".cm-content").getAttribute("contenteditable")`); got != "true" {
		t.Errorf("the restored document is not editable offline: contenteditable %q", got)
	}
	p.screenshot("offline-restored")
	comeOnline(gate, p)
	converge(t, srv, docID, p)
	landedOnce(t, srv, "olive@example.com", docID, before, 2, typed...)
	p.waitFor(`window.tandem.stored() && !window.tandem.pending()`, "the record cleared", 5*time.Second)
	if n := storedRecords(p); n != 0 {
		t.Errorf("%d records left in IndexedDB once everything is saved", n)
	}
}

// storedRecords counts the records in the page's IndexedDB store of kept edits.
func storedRecords(p *page) int {
	p.t.Helper()
	n, err := chromedp.Run(p.ctx, chromedp.Evaluate[int](`new Promise((ok, bad) => {
		const r = indexedDB.open("tandem");
		r.onerror = () => bad(r.error);
		r.onsuccess = () => {
			const c = r.result.transaction("pending").objectStore("pending").count();
			c.onsuccess = () => { ok(c.result); r.result.close(); };
			c.onerror = () => bad(c.error);
		};
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: count the kept records: %v", p.name, err)
	}
	return n
}

func TestBrowserOfflineRestart(t *testing.T) {
	browserPath := chromiumPath(t)
	srv := startServer(t, testConfig(t, "postgres"))
	gate := startGate(t, srv.URL())
	profile := t.TempDir()

	// The first browser process: type offline, then quit the browser.
	first, quit := startProfile(t, browserPath, profile, "olive-1")
	docID := offlineDoc(t, srv, first, gate.URL(), "olive@example.com")
	before := eval[int64](first, "window.tandem.version()")
	typed := []string{"Typed before the browser quit.", "[start, also offline] "}
	typeOffline(t, srv, gate, first, docID, typed...)
	quit()

	// A second process on the same profile: the session cookie and the
	// kept edits are on disk.
	second, _ := startProfile(t, browserPath, profile, "olive-2")
	second.do(chromedp.Navigate(gate.URL() + "/d/" + docID))
	waitKeptEdits(second, "the kept edits in the restarted browser", typed...)
	comeOnline(gate, second)
	converge(t, srv, docID, second)
	landedOnce(t, srv, "olive@example.com", docID, before, 2, typed...)
}

func TestBrowserOfflineTwoTabs(t *testing.T) {
	browserPath := chromiumPath(t)
	srv := startServer(t, testConfig(t, "postgres"))
	gate := startGate(t, srv.URL())
	browser := startBrowser(t, browserPath)
	one := openPage(t, browser, "tab-1")
	docID := offlineDoc(t, srv, one, gate.URL(), "olive@example.com")
	before := eval[int64](one, "window.tandem.version()")
	typed := []string{"Kept for two tabs.", "[two tabs, start] "}
	typeOffline(t, srv, gate, one, docID, typed...)

	// The page is reloaded and, at once, the document opened in a second
	// tab: both restore from one store; only the lock holder may send.
	two := newTab(t, one.ctx, "tab-2")
	concurrently(t,
		func() error { return chromedp.Do(one.ctx, chromedp.Reload()) },
		func() error { return chromedp.Do(two.ctx, chromedp.Navigate(gate.URL()+"/d/"+docID)) },
	)
	restored := func(p *page) bool {
		return eval[bool](p, `!!window.tandem && window.tandem.text().includes(`+jsString(typed[0])+`)`)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !restored(one) && !restored(two) {
		if time.Now().After(deadline) {
			t.Fatal("neither tab restored the kept edits")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // longer than a page waits for the lock
	if restored(one) && restored(two) {
		t.Fatal("both tabs restored the kept edits")
	}
	t.Logf("tab-1 restored: %v, tab-2 restored: %v", restored(one), restored(two))
	comeOnline(gate, one, two)
	converge(t, srv, docID, one, two)
	landedOnce(t, srv, "olive@example.com", docID, before, 2, typed...)

	// Both type offline; the tab that holds the lock then closes (its page
	// unloads) with its edits kept. The other takes the lock and, back
	// online, sends them (over REST) along with its own: each once.
	holder, other := one, two
	if !eval[bool](one, "window.tandem.stored()") {
		holder, other = two, one
	}
	before = eval[int64](holder, "window.tandem.version()")
	gate.setDown(true)
	for _, p := range []*page{holder, other} {
		p.waitFor(`document.querySelector(".status").dataset.connection !== "online"`, "the socket down", 10*time.Second)
	}
	left, mine := "[left behind by a closed tab] ", " [typed in the tab that stays]"
	if err := holder.typeAt("start", left); err != nil {
		t.Fatal(err)
	}
	if err := other.typeAt("end", mine); err != nil {
		t.Fatal(err)
	}
	holder.waitFor(`window.tandem.pending() && window.tandem.stored()`, "the holder's edits kept", 10*time.Second)
	// Closed, not navigated away: a page left for another keeps its lock
	// while the browser holds it in its back/forward cache (then nobody
	// else sends its edits, and going back resumes it).
	holder.do(func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, cdppage.Close, cdp.Empty{})
		return chromedp.Void{}, err
	})
	comeOnline(gate, other)
	converge(t, srv, docID, other)
	other.waitFor(`window.tandem.stored()`, "the other tab keeping its own edits now", 10*time.Second)
	landedOnce(t, srv, "olive@example.com", docID, before, 4, append(typed, left, mine)...)
}

// startProfile starts a Chromium on the profile folder dir (kept between
// processes) and returns its first tab; quit closes the browser as a person
// does (Browser.close), which writes its cookies and storage to disk.
func startProfile(t *testing.T, path, dir, name string) (*page, func()) {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromiumOptions(path, dir)...)
	ctx, cancel := chromedp.NewContext(alloc)
	var once sync.Once
	quit := func() {
		once.Do(func() {
			if err := chromedp.Cancel(ctx); err != nil {
				t.Errorf("%s: close the browser: %v", name, err)
			}
			cancel()
			cancelAlloc()
		})
	}
	p := watchPage(t, ctx, quit, name)
	return p, quit
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
