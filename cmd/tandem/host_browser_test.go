package main

import (
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"
)

// Tandem inside another app (docs/embedding.md): a host app on another
// origin serves a page that loads @tandem/client straight from
// frontend/client, gets a JWT from the host's own server, and edits a
// document the app created, together with a Tandem account on Tandem's own
// page.

// hostApp is a fake host app: its server mints tokens for its one user and
// serves a page with a <textarea> bound to a Tandem document.
type hostApp struct {
	t        *testing.T
	tandem   string // Tandem's URL
	appID    string
	secret   string
	docID    string
	tokens   atomic.Int32 // tokens minted
	lifetime atomic.Int64 // of the tokens it mints, in ns; 0 is 2 minutes
	userName string
	example  template.JS // the README's example, adapted (readmeTextarea)
}

// hostPage is the host's page: the <textarea> example of
// frontend/client/README.md as it is written (readmeTextarea), plus a
// window.tandem handle for the test with the same shape as Tandem's own
// page's (text, pending), and the fetch failures the package met.
var hostPage = template.Must(template.New("host").Parse(`<!doctype html>
<meta charset="utf-8">
<title>Host app</title>
<textarea rows="12" cols="80" readonly></textarea>
<script type="module">
const cfg = {{.Config}};
// What the example takes from the host app: the document, and a token
// from the host's own server.
const documentId = cfg.doc;
const myApp = { getJwt: () => fetch('/token').then((r) => r.text()) };
// The page's own fetch, noting what fails (a CORS refusal is a TypeError).
const fetchErrors = [];
const notedFetch = (url, init) => fetch(url, init).catch((err) => {
  fetchErrors.push(new URL(url).pathname + ': ' + err.name);
  throw err;
});

{{.Example}}

let reconnects = -1; // sockets opened after the first
session.on('hello', () => { reconnects++; });
window.tandem = {
  text: () => area.value,
  docText: () => doc.text,
  pending: () => doc.pending,
  status: () => session.status,
  reconnects: () => reconnects,
  editable: () => !area.readOnly,
  me: () => session.user?.name ?? null,
  others: () => doc.presence.map((p) => p.user.name).sort(),
  fetchErrors: () => fetchErrors.slice(),
  // rest calls Tandem as the package does with a token, and returns the
  // status, or the error's name (TypeError when CORS refuses).
  rest: async (method, path) => {
    try {
      const token = await myApp.getJwt();
      return String((await fetch(cfg.tandem + path, { method, headers: { Authorization: 'Bearer ' + token } })).status);
    } catch (err) {
      return err.name;
    }
  },
};
</script>
`))

// readmeTextarea is the <textarea> example of the package's README, made to
// run on the host page: the package from /client/, Tandem at tandem, and
// the page's noting fetch. It fails the test if the README changed so
// that the example can no longer be found or adapted.
func readmeTextarea(t *testing.T, tandem string) template.JS {
	t.Helper()
	readme, err := os.ReadFile("../../frontend/client/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "## A plain `<textarea>`\n\n```js\n")
	code, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("frontend/client/README.md has no <textarea> example")
	}
	for _, r := range [][2]string{
		{"from '@tandem/client'", "from '/client/index.js'"},
		{"'https://tandem.example'", strconv.Quote(tandem)},
		{"token: () => myApp.getJwt() }", "token: () => myApp.getJwt(), fetch: notedFetch }"},
	} {
		if !strings.Contains(code, r[0]) {
			t.Fatalf("the README's <textarea> example has no %s", r[0])
		}
		code = strings.Replace(code, r[0], r[1], 1)
	}
	return template.JS(code) // the repository's own text
}

// ServeHTTP serves the page, the package's files and the token endpoint.
func (h *hostApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		err := hostPage.Execute(w, map[string]any{
			"Config":  map[string]string{"tandem": h.tandem, "doc": h.docID},
			"Example": h.example,
		})
		if err != nil {
			h.t.Errorf("host page: %v", err)
		}
	case strings.HasPrefix(r.URL.Path, "/client/"):
		// The package as it is in the repository: plain ES modules.
		http.StripPrefix("/client/", http.FileServer(http.Dir("../../frontend/client"))).ServeHTTP(w, r)
	case r.URL.Path == "/token":
		// The host's own authentication would come first; its one user
		// gets a short token for the one document, as an editor.
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"iss": h.appID, "sub": "host-user-7", "name": h.userName, "color": "#117755",
			"docs": map[string]string{h.docID: "editor"},
			"exp":  time.Now().Add(h.tokenLifetime()).Unix(),
		}).SignedString([]byte(h.secret))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		h.tokens.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, tok)
	default:
		http.NotFound(w, r)
	}
}

// tokenLifetime is how long the tokens minted now last.
func (h *hostApp) tokenLifetime() time.Duration {
	if d := time.Duration(h.lifetime.Load()); d > 0 {
		return d
	}
	return 2 * time.Minute
}

// newHost makes a server for h on a port of its own (another origin than
// Tandem's), to Start once h is ready, and returns its URL. It listens on
// 127.0.0.1 but is reached as localhost, so that it is another site too,
// as a real host app would be.
func newHost(t *testing.T, h http.Handler) (*httptest.Server, string) {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	t.Cleanup(s.Close)
	return s, "http://localhost:" + strconv.Itoa(s.Listener.Addr().(*net.TCPAddr).Port)
}

// TestBrowserHostApp: a person on a host app's page (another origin, in
// --allowed-origins) and a Tandem account on Tandem's page edit the app's
// document at once, see each other's edits and presence, and end with the
// server's text. A page on an origin not allowed gets no socket ticket.
func TestBrowserHostApp(t *testing.T) {
	browserPath := chromiumPath(t)
	host := &hostApp{t: t, docID: "deal-42", userName: "Hana Host"}
	hostSrv, hostURL := newHost(t, host)
	refusedSrv, refusedURL := newHost(t, host) // the same app on an origin Tandem does not allow
	srv := startServer(t, testConfig(t, "postgres", "--allowed-origins", hostURL))
	host.tandem = srv.URL()
	host.example = readmeTextarea(t, srv.URL())

	// An admin registers the app over REST; the app creates its document
	// under its own id and invites a Tandem account to it by email.
	e := registerApp(t, srv, "CRM")
	host.appID, host.secret = e.appID, e.secret
	hostSrv.Start()
	refusedSrv.Start()
	app := e.appClient()
	app.want(app.do("PUT", "/api/apps/docs/"+host.docID, map[string]string{"title": "Deal 42", "content": "Notes:\n"}), 201, "", "the app creates its document")
	app.want(app.do("PUT", "/api/docs/"+host.docID+"/members", map[string]string{"email": "pat@example.com", "role": "editor"}), 202, "", "the app invites Pat")

	browser := startBrowser(t, browserPath)
	pat := openPage(t, browser, "pat")
	hana := openPage(t, browser, "hana")
	hana.editor = "textarea"

	// Pat signs up on Tandem's page, follows a link to the document and
	// accepts the app's invitation there.
	pat.signUp(srv.URL(), "Pat Person", "pat@example.com")
	pat.do(chromedp.Navigate(srv.URL() + "/d/" + host.docID))
	pat.waitFor(fmt.Sprintf(`!!document.querySelector('.invitation[data-invite=%q] button.primary')`, host.docID), "the app's invitation", 10*time.Second)
	pat.do(chromedp.Click(".invitation button.primary"))
	pat.waitJoined()

	// Hana opens the host app's page: the package gets her token from the
	// host, trades it for a ticket at Tandem and joins.
	hana.do(chromedp.Navigate(hostURL + "/"))
	hana.waitFor(`window.tandem?.status() === "online" && window.tandem.editable() && window.tandem.text() === "Notes:\n"`, "the host page to join", 15*time.Second)
	if host.tokens.Load() == 0 {
		t.Error("the page joined without a token from its host")
	}
	if me := eval[string](hana, "window.tandem.me()"); me != host.userName {
		t.Errorf("the host page's user is %q, want %q", me, host.userName)
	}
	converge(t, srv, host.docID, pat, hana)

	// Both type at once, at both ends and then at one place.
	concurrently(t,
		func() error { return pat.typeAt("end", "Pat: call Friday 📞. ") },
		func() error { return hana.typeAt("start", "Hana: budget ok ✅. ") },
	)
	text := converge(t, srv, host.docID, pat, hana)
	for _, s := range []string{"Pat: call Friday 📞. ", "Hana: budget ok ✅. ", "Notes:\n"} {
		if !strings.Contains(text, s) {
			t.Errorf("text %q lacks %q", text, s)
		}
	}
	patSame, hanaSame := "[p1👩‍💻p2]", "[h1🚀h2]"
	concurrently(t,
		func() error { return pat.typeAt("end", patSame) },
		func() error { return hana.typeAt("end", hanaSame) },
	)
	text = converge(t, srv, host.docID, pat, hana)
	if !isSubsequence(patSame, text) || !isSubsequence(hanaSame, text) {
		t.Errorf("typing at one place lost order: %q", text)
	}
	if got := eval[string](hana, "window.tandem.docText()"); got != text {
		t.Errorf("the host's textarea and its doc differ: doc has %q", got)
	}
	var content struct{ Content string }
	r := app.do("GET", "/api/docs/"+host.docID+"/content", nil)
	app.want(r, 200, "", "the app reads its document")
	if r.json(t, &content); content.Content != text {
		t.Errorf("the app reads %q over REST, the pages show %q", content.Content, text)
	}

	// Each sees the other here: Hana's name on Pat's page, with her caret,
	// and Pat in the host page's presence.
	pat.waitFor(fmt.Sprintf(`!!document.querySelector('.people .avatar[title=%q]')`, host.userName), "Hana among the people on Pat's page", 10*time.Second)
	pat.waitFor(fmt.Sprintf(`[...document.querySelectorAll(".cm-remote-label")].some((e) => e.textContent === %q)`, host.userName), "Hana's caret on Pat's page", 10*time.Second)
	hana.waitFor(`window.tandem.others().includes("Pat Person")`, "Pat in the host page's presence", 10*time.Second)
	pat.screenshot("host-app-tandem")
	hana.screenshot("host-app-host")

	// A paste too large for a socket message (over 64 KiB) goes over REST
	// (POST /api/docs/{id}/ops), from the host's origin too. One long line:
	// Chromium enters pasted line breaks one by one, for seconds.
	paste := strings.Repeat("A pasted sentence from the host 📋. ", 2100)
	if err := hana.typeAt("end", ""); err != nil {
		t.Fatal(err)
	}
	if err := insertText(hana.ctx, paste); err != nil {
		t.Fatal(err)
	}
	if text := converge(t, srv, host.docID, pat, hana); !strings.HasSuffix(text, paste) {
		t.Errorf("the host's big paste did not land whole (%d bytes of text)", len(text))
	}

	// The package's other REST calls (who am I, the history) answer the
	// host's origin.
	for _, path := range []string{"/api/me", "/api/docs/" + host.docID + "/ops?from=1&to=2"} {
		if got := restFrom(hana, "GET", path); got != "200" {
			t.Errorf("GET %s from the host page: %s, want 200", path, got)
		}
	}

	// Tokens of a few seconds: at each exp Tandem closes the socket, and
	// the package gets a fresh token from the host and carries on.
	host.lifetime.Store(int64(3 * time.Second))
	minted := host.tokens.Load()
	hana.do(chromedp.Navigate(hostURL + "/"))
	hana.waitFor(`window.tandem?.status() === "online" && window.tandem.editable()`, "the host page to join again", 15*time.Second)
	hana.waitFor(`window.tandem.reconnects() >= 1 && window.tandem.status() === "online"`, "a reconnect after the token's exp", 15*time.Second)
	if n := host.tokens.Load() - minted; n < 2 {
		t.Errorf("%d tokens minted across an expiry, want a fresh one for the reconnect", n)
	}
	if err := hana.typeAt("start", "After a fresh token. "); err != nil {
		t.Fatal(err)
	}
	if text := converge(t, srv, host.docID, pat, hana); !strings.HasPrefix(text, "After a fresh token. ") {
		t.Errorf("the edit after a reconnect is missing: %.80q", text)
	}
	host.lifetime.Store(0)

	// The same page on an origin not in --allowed-origins: the browser
	// refuses the ticket request (no CORS headers), so no socket opens, and
	// the other routes refuse it too.
	refused := openPage(t, browser, "refused")
	refused.do(chromedp.Navigate(refusedURL + "/"))
	refused.waitFor(`window.tandem?.fetchErrors().includes("/api/socket-tickets: TypeError")`, "the ticket request to fail", 10*time.Second)
	if got := restFrom(refused, "GET", "/api/me"); got != "TypeError" {
		t.Errorf("GET /api/me from an origin not allowed: %s, want a TypeError", got)
	}
	if s := eval[string](refused, "window.tandem.status()"); s == "online" {
		t.Errorf("a page on an origin not allowed is %s", s)
	}
	if got := eval[string](refused, "window.tandem.text()"); got != "" {
		t.Errorf("a page on an origin not allowed reads %q", got)
	}
}

// restFrom calls a Tandem route from p's host page with a fresh token (its
// window.tandem.rest) and returns the status or the error's name.
func restFrom(p *page, method, path string) string {
	p.t.Helper()
	got, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](fmt.Sprintf("window.tandem.rest(%q, %q)", method, path), chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: %s %s: %v", p.name, method, path, err)
	}
	return got
}
