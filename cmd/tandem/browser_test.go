package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The browser tests drive the real web app in headless Chromium (Debian's
// package, never a downloaded build) against a real server on Postgres:
// three people in three separate browser contexts (separate cookies) sign
// up, share a document and edit it at once.

// chromiumPath finds the browser, or skips the test outside CI.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	if p := os.Getenv("TANDEM_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found: install Debian's chromium package (.ci/run does)")
	}
	t.Skip("chromium not found; install Debian's chromium package to run the browser tests")
	return ""
}

// screenshotDir is where the tests save their screenshots.
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("TANDEM_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "tandem-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// chromiumOptions are the tests' Chromium flags, on the profile folder dir.
func chromiumOptions(path, dir string) []chromedp.ExecAllocatorOption {
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.UserDataDir(dir),
		chromedp.WindowSize(1200, 760),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
	)
}

// startBrowser starts one headless Chromium for the test.
func startBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromiumOptions(path, t.TempDir())...)
	browser, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return browser
}

// page is one person's tab, in its own browser context.
type page struct {
	t    *testing.T
	name string
	ctx  context.Context
	// editor is the selector of the element people type in; "" is
	// Tandem's own editor (.cm-content).
	editor string

	mu         sync.Mutex
	exceptions []string
}

func openPage(t *testing.T, browser context.Context, name string) *page {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	return watchPage(t, ctx, cancel, name)
}

func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

// eval returns the value of a JavaScript expression in the page.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("%s: eval %s: %v", p.name, expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it is true.
func (p *page) waitFor(expr, what string, timeout time.Duration) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		p.t.Fatalf("%s: waiting for %s (%s): %v", p.name, what, expr, err)
	}
}

// screenshot saves what the window shows as name.png in the screenshot folder.
func (p *page) screenshot(name string) {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("%s: screenshot: %v", p.name, err)
	}
	file := filepath.Join(screenshotDir(p.t), name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", file)
}

// text is the editor's text.
func (p *page) text() string { return eval[string](p, "window.tandem.text()") }

func (p *page) signUp(base, name, email string) {
	p.t.Helper()
	p.do(chromedp.Navigate(base + "/"))
	p.waitFor(`location.pathname === "/signin" && !!document.querySelector("form")`, "the sign-in page", 10*time.Second)
	p.do(chromedp.Click(`a[href^="/signup"]`))
	p.waitFor(`location.pathname === "/signup" && !!document.querySelector("input[name=name]")`, "the sign-up form", 10*time.Second)
	if p.name == "alice" {
		p.screenshot("signup")
	}
	p.do(
		chromedp.SendKeys("input[name=name]", name),
		chromedp.SendKeys("input[name=email]", email),
		chromedp.SendKeys("input[name=password]", "correct horse battery"),
		chromedp.Click(`button[type=submit]`),
	)
	p.waitFor(`document.querySelector(".page-head h1")?.textContent === "Documents"`, "the documents page", 10*time.Second)
}

// openDoc waits until the editor has joined the document.
func (p *page) waitJoined() {
	p.t.Helper()
	p.waitFor(`!!window.tandem && window.tandem.version() !== null && document.querySelector(".status")?.dataset.connection === "online"`,
		"the document to load", 15*time.Second)
}

// typeText types s at the caret: ASCII as key presses, everything else
// (emoji) as text input, a few characters at a time with short pauses so
// that two people's typing interleaves.
func typeText(ctx context.Context, s string) error {
	for s != "" {
		n := 0
		for n < len(s) && n < 3 && s[n] < utf8.RuneSelf {
			n++
		}
		var err error
		if n > 0 {
			err = chromedp.Do(ctx, chromedp.KeyEvent(s[:n]))
		} else {
			_, size := utf8.DecodeRuneInString(s)
			n = size
			err = insertText(ctx, s[:n])
		}
		if err != nil {
			return err
		}
		s = s[n:]
		time.Sleep(15 * time.Millisecond)
	}
	return nil
}

// insertText enters s at the caret as text input, the way an input method
// or a paste does: one input event, whatever its length.
func insertText(ctx context.Context, s string) error {
	return chromedp.Do(ctx, func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: s})
		return chromedp.Void{}, err
	})
}

// typeAt puts the caret at the start or the end of the document and types.
func (p *page) typeAt(where, s string) error {
	key := kb.End
	if where == "start" {
		key = kb.Home
	}
	editor := p.editor
	if editor == "" {
		editor = ".cm-content"
	}
	if err := chromedp.Do(p.ctx,
		chromedp.Focus(editor),
		chromedp.KeyEvent(key, chromedp.KeyModifiers(chromedp.ModifierCtrl)),
	); err != nil {
		return err
	}
	return typeText(p.ctx, s)
}

// concurrently runs fns at once and fails on the first error.
func concurrently(t *testing.T, fns ...func() error) {
	t.Helper()
	errs := make(chan error, len(fns))
	for _, fn := range fns {
		go func() { errs <- fn() }()
	}
	for range fns {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// serverText is the document's committed text, read from the store.
func serverText(t *testing.T, srv *server, docID string) string {
	t.Helper()
	_, content, err := srv.backend.store.Load(context.Background(), docID)
	if err != nil {
		t.Fatalf("load %s: %v", docID, err)
	}
	return content.Text
}

// converge waits until every page shows the server's text with nothing
// pending, and returns that text.
func converge(t *testing.T, srv *server, docID string, pages ...*page) string {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		want := serverText(t, srv, docID)
		same := true
		var diff string
		for _, p := range pages {
			got := p.text()
			pending := eval[bool](p, "window.tandem.pending()")
			if got != want || pending {
				same = false
				diff = fmt.Sprintf("%s has %q (pending %v), server has %q", p.name, got, pending, want)
				break
			}
		}
		if same {
			return want
		}
		if time.Now().After(deadline) {
			t.Fatalf("no convergence: %s", diff)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// isSubsequence reports whether the code points of sub appear in s in order.
func isSubsequence(sub, s string) bool {
	rs := []rune(s)
	i := 0
	for _, r := range sub {
		for i < len(rs) && rs[i] != r {
			i++
		}
		if i == len(rs) {
			return false
		}
		i++
	}
	return true
}

func TestBrowserEditing(t *testing.T) {
	browserPath := chromiumPath(t)
	srv := startServer(t, testConfig(t, "postgres"))
	// Bob reaches the server through a proxy that the test can cut, to take
	// him offline without touching the others.
	bobNet := startProxy(t, srv.listener.Addr().String())
	browser := startBrowser(t, browserPath)
	alice := openPage(t, browser, "alice")
	bob := openPage(t, browser, "bob")
	carol := openPage(t, browser, "carol")

	alice.signUp(srv.URL(), "Alice Archer", "alice@example.com")
	bob.signUp(bobNet.URL(), "Bob Baker", "bob@example.com")
	carol.signUp(srv.URL(), "Carol Chen", "carol@example.com")

	// Alice has no documents yet, creates one and starts writing.
	alice.waitFor(`!!document.querySelector(".empty")`, "the empty state", 5*time.Second)
	alice.screenshot("documents-empty")
	alice.do(
		chromedp.SendKeys(".new-doc input", "Trip plan"),
		chromedp.Click(".new-doc button"),
	)
	alice.waitJoined()
	docID := strings.TrimPrefix(eval[string](alice, "location.pathname"), "/d/")
	if eval[string](alice, "document.title") != "Trip plan · Tandem" {
		t.Errorf("title %q", eval[string](alice, "document.title"))
	}
	if err := alice.typeAt("end", "Hello from Tandem.\n"); err != nil {
		t.Fatal(err)
	}

	// She shares it: Bob as an editor, Carol as a viewer. Each gets an
	// invitation; nobody joins before saying yes.
	alice.do(chromedp.Click(".doc-bar .share-button"))
	alice.waitFor(`!!document.querySelector("dialog.share[open] .invite")`, "the share dialog", 5*time.Second)
	alice.do(
		chromedp.SendKeys(".invite input", "bob@example.com"),
		chromedp.Click(".invite button"),
	)
	alice.waitFor(`!!document.querySelector('.members li[data-invited][data-email="bob@example.com"]')`, "Bob's invitation in the list", 5*time.Second)
	alice.do(
		chromedp.SendKeys(".invite input", "carol@example.com"),
		chromedp.SetValue(".invite select", "viewer"),
		chromedp.Click(".invite button"),
	)
	alice.waitFor(`document.querySelector('.members li[data-invited][data-email="carol@example.com"]')?.textContent.includes("viewer")`, "Carol invited as a viewer", 5*time.Second)
	// A look-alike address (a Cyrillic а in the domain) is flagged, with
	// its punycode, as she types it and in the list; she revokes it.
	const lookalike = "bob@ex\u0430mple.com"
	eval[bool](alice, `(() => {
		const input = document.querySelector(".invite input");
		input.value = "`+lookalike+`";
		return input.dispatchEvent(new Event("input"));
	})()`)
	alice.waitFor(`(h => !h.hidden && h.textContent.includes("bob@xn--"))(document.querySelector("dialog.share .email-warning"))`, "the look-alike warning under the input", 5*time.Second)
	alice.do(chromedp.Click(".invite button"))
	fake := `.members li[data-invited][data-email="` + lookalike + `"]`
	alice.waitFor(`document.querySelector('`+fake+` .email-warning')?.textContent.includes("xn--")`, "the look-alike flagged in the list", 5*time.Second)
	alice.screenshot("share")
	alice.do(chromedp.Click(fake + " button"))
	alice.waitFor(`!document.querySelector('`+fake+`')`, "the look-alike's invitation revoked", 5*time.Second)
	alice.do(chromedp.Click("dialog.share .close"))

	// Bob finds the invitation in his list and accepts; Carol follows a link
	// and accepts there.
	bob.do(chromedp.Navigate(bobNet.URL() + "/"))
	invite := fmt.Sprintf(`.invite-row[data-invite=%q]`, docID)
	bob.waitFor(fmt.Sprintf(`document.querySelector('%s')?.textContent.includes("Alice Archer")`, invite), "the invitation in Bob's list", 10*time.Second)
	bob.screenshot("invitation")
	bob.do(chromedp.Click(invite + " button.primary"))
	bob.waitFor(fmt.Sprintf(`!!document.querySelector('.doc-row[data-doc=%q] a') && !document.querySelector('%s')`, docID, invite), "the shared document in Bob's list", 10*time.Second)
	bob.screenshot("documents")
	bob.do(chromedp.Click(fmt.Sprintf(`.doc-row[data-doc=%q] a`, docID)))
	bob.waitJoined()
	carol.do(chromedp.Navigate(srv.URL() + "/d/" + docID))
	carol.waitFor(fmt.Sprintf(`!!document.querySelector('.invitation[data-invite=%q] button.primary')`, docID), "the invitation on Carol's link", 10*time.Second)
	carol.do(chromedp.Click(".invitation button.primary"))
	carol.waitJoined()
	converge(t, srv, docID, alice, bob, carol)

	// Two people type at once at different places, with emoji.
	concurrently(t,
		func() error { return alice.typeAt("end", "Alice writes at the end 🎉 and more. ") },
		func() error { return bob.typeAt("start", "Bob 👋 starts here. ") },
	)
	text := converge(t, srv, docID, alice, bob, carol)
	for _, s := range []string{"Alice writes at the end 🎉 and more. ", "Bob 👋 starts here. ", "Hello from Tandem.\n"} {
		if !strings.Contains(text, s) {
			t.Errorf("text %q lacks %q", text, s)
		}
	}

	// And at the same place.
	before := utf8.RuneCountInString(text)
	aliceSame, bobSame := "[a1😀a2👩‍👩‍👧a3]", "[b1🚀b2éñb3]"
	concurrently(t,
		func() error { return alice.typeAt("end", aliceSame) },
		func() error { return bob.typeAt("end", bobSame) },
	)
	text = converge(t, srv, docID, alice, bob, carol)
	if got, want := utf8.RuneCountInString(text), before+utf8.RuneCountInString(aliceSame+bobSame); got != want {
		t.Errorf("after typing at one place: %d code points, want %d: %q", got, want, text)
	}
	if !isSubsequence(aliceSame, text) || !isSubsequence(bobSame, text) {
		t.Errorf("typing at one place lost order: %q", text)
	}

	// Undo takes back one's own typing only, wherever others typed since.
	if err := alice.typeAt("end", " undo-me"); err != nil {
		t.Fatal(err)
	}
	converge(t, srv, docID, alice, bob, carol)
	if err := bob.typeAt("start", "keep "); err != nil {
		t.Fatal(err)
	}
	converge(t, srv, docID, alice, bob, carol)
	alice.do(chromedp.Focus(".cm-content"), chromedp.KeyEvent("z", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	text = converge(t, srv, docID, alice, bob, carol)
	if strings.Contains(text, "undo-me") || !strings.HasPrefix(text, "keep ") {
		t.Errorf("after Alice's undo: %q", text)
	}

	// Bob goes offline and keeps typing; Alice types too; he comes back.
	bobNet.setOffline(true)
	bob.waitFor(`document.querySelector(".status").dataset.connection !== "online"`, "Bob to see that he is offline", 10*time.Second)
	offline := "Offline note ✈️ from Bob. "
	concurrently(t,
		func() error { return bob.typeAt("start", offline) },
		func() error { return alice.typeAt("end", " Alice keeps going.") },
	)
	if status := eval[string](bob, `document.querySelector(".status").textContent`); !strings.Contains(status, "Offline") {
		t.Errorf("Bob's status while offline: %q", status)
	}
	if strings.Contains(serverText(t, srv, docID), offline) {
		t.Fatal("Bob's offline typing reached the server while he was offline")
	}
	bobNet.setOffline(false)
	text = converge(t, srv, docID, alice, bob, carol)
	if !strings.Contains(text, offline) || !strings.Contains(text, " Alice keeps going.") {
		t.Errorf("edits lost across the disconnect: %q", text)
	}

	// Carol is a viewer: the editor is read only and her keys change nothing.
	if got := eval[string](carol, `document.querySelector(".cm-content").getAttribute("contenteditable")`); got != "false" {
		t.Errorf("viewer's editor contenteditable = %q", got)
	}
	if !eval[bool](carol, `!document.querySelector(".topbar .badge").hidden`) {
		t.Error("viewer sees no read-only badge")
	}
	// Click into the text as a person would, then type.
	box := eval[[]float64](carol, `(r => [r.x, r.y])(document.querySelector(".cm-content").getBoundingClientRect())`)
	carol.do(chromedp.MouseClickXY(box[0]+40, box[1]+12), chromedp.KeyEvent("typed by a viewer"))
	if err := typeText(carol.ctx, "😀"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if got := converge(t, srv, docID, alice, bob, carol); got != text {
		t.Errorf("a viewer's keys changed the text: %q", got)
	}

	// Bob selects a word; Carol sees both Alice's and Bob's cursors, with names.
	bob.do(
		chromedp.Focus(".cm-content"),
		chromedp.KeyEvent(kb.Home, chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.KeyEvent(kb.ArrowRight, chromedp.KeyModifiers(chromedp.ModifierCtrl|chromedp.ModifierShift)),
	)
	alice.do(chromedp.Focus(".cm-content"))
	carol.waitFor(`[...document.querySelectorAll(".cm-remote-label")].map(e => e.textContent).sort().join() === "Alice Archer,Bob Baker"`,
		"Alice's and Bob's cursors on Carol's screen", 10*time.Second)
	carol.waitFor(`!!document.querySelector(".cm-remote-selection")`, "Bob's selection on Carol's screen", 10*time.Second)
	alice.waitFor(`[...document.querySelectorAll(".cm-remote-label")].length === 2`, "two cursors on Alice's screen", 10*time.Second)
	if got := eval[int](carol, `document.querySelectorAll(".people .avatar").length`); got != 3 {
		t.Errorf("Carol sees %d people here, want 3", got)
	}
	carol.screenshot("editor-carol")
	alice.screenshot("editor-alice")

	// Alice makes Carol an editor: Carol's editor unlocks at once and her
	// typing lands. Then she removes Bob, who is told so.
	alice.do(chromedp.Click(".doc-bar .share-button"))
	alice.waitFor(`!!document.querySelector('dialog.share[open] .members li[data-email="carol@example.com"] select')`, "the member list", 5*time.Second)
	alice.do(chromedp.SetValue(`.members li[data-email="carol@example.com"] select`, "editor"))
	// SetValue sets the value; the page acts on the change event.
	eval[bool](alice, `document.querySelector('.members li[data-email="carol@example.com"] select').dispatchEvent(new Event("change"))`)
	carol.waitFor(`window.tandem.role() === "editor" && document.querySelector(".cm-content").getAttribute("contenteditable") === "true"`,
		"Carol's editor to unlock", 10*time.Second)
	if err := carol.typeAt("end", " Carol can edit now."); err != nil {
		t.Fatal(err)
	}
	if text := converge(t, srv, docID, alice, bob, carol); !strings.HasSuffix(text, " Carol can edit now.") {
		t.Errorf("Carol's edit is missing: %q", text)
	}
	// A paste larger than a socket frame (256 KiB) goes over REST and lands.
	paste := strings.Repeat("A long pasted line, with an emoji 📋 in it.\n", 7000)
	// A real paste event, with the text on its clipboard, as the editor gets
	// from Ctrl+V.
	quoted, _ := json.Marshal(paste)
	eval[bool](carol, `(() => {
		const data = new DataTransfer();
		data.setData("text/plain", `+string(quoted)+`);
		return document.querySelector(".cm-content").dispatchEvent(
			new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true}));
	})()`)
	if text := converge(t, srv, docID, alice, bob, carol); !strings.Contains(text, paste) {
		t.Errorf("the big paste did not land whole (%d bytes of text)", len(text))
	}
	alice.do(chromedp.Click(`.members li[data-email="bob@example.com"] button`))
	bob.waitFor(`!document.querySelector(".banner").hidden && document.querySelector(".status").textContent === "Unavailable"`,
		"Bob to learn he was removed", 10*time.Second)
	alice.do(chromedp.Click("dialog.share .close"))

	// Back in her list, Alice renames the document, then deletes it; Carol,
	// still in it, is told.
	alice.do(chromedp.Click("a.back"))
	row := fmt.Sprintf(`.doc-row[data-doc=%q]`, docID)
	alice.waitFor(fmt.Sprintf(`document.querySelector('%s .doc-title')?.textContent === "Trip plan"`, row), "the list", 5*time.Second)
	alice.do(chromedp.Click(row + " .doc-actions button"))
	alice.waitFor(`!!document.querySelector(".rename input")`, "the rename form", 5*time.Second)
	alice.do(
		chromedp.SetValue(".rename input", "Road trip"),
		chromedp.Click(".rename button[type=submit]"),
	)
	alice.waitFor(fmt.Sprintf(`document.querySelector('%s .doc-title')?.textContent === "Road trip"`, row), "the new title", 5*time.Second)
	// On a phone-sized screen nothing overflows sideways.
	for _, p := range []*page{alice, carol} {
		p.do(chromedp.EmulateViewport(390, 780))
		if w := eval[[]int](p, `[document.documentElement.scrollWidth, window.innerWidth]`); w[0] > w[1] {
			t.Errorf("%s's page overflows a 390 px screen: %d px wide", p.name, w[0])
		}
		p.screenshot("phone-" + p.name)
		p.do(chromedp.EmulateViewport(1200, 760))
	}
	alice.do(chromedp.Click(row + " .doc-actions button.danger"))
	alice.waitFor(`!!document.querySelector("dialog.confirm[open]")`, "the delete confirmation", 5*time.Second)
	alice.do(chromedp.Click("dialog.confirm button.primary"))
	alice.waitFor(`!!document.querySelector(".empty")`, "the empty list", 5*time.Second)
	carol.waitFor(`!document.querySelector(".banner").hidden`, "Carol to learn the document is gone", 10*time.Second)

	// Carol signs out in another tab: the first tab's socket is closed and
	// it goes to the sign-in page.
	tab2, cancelTab2 := chromedp.NewContext(carol.ctx)
	defer cancelTab2()
	other := &page{t: t, name: "carol-tab2", ctx: tab2}
	other.do(chromedp.Navigate(srv.URL() + "/"))
	other.waitFor(`document.querySelector(".page-head h1")?.textContent === "Documents"`, "Carol's second tab", 10*time.Second)
	other.do(chromedp.Click(".account button"))
	other.waitFor(`location.pathname === "/signin"`, "the second tab to sign out", 5*time.Second)
	carol.waitFor(`location.pathname === "/signin" && new URLSearchParams(location.search).get("next") === "/d/`+docID+`"`,
		"the first tab to notice it was signed out", 10*time.Second)
}

// flakyProxy forwards TCP connections to a server until it is set offline:
// then it cuts every open connection and refuses new ones.
type flakyProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	offline bool
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

func startProxy(t *testing.T, target string) *flakyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.setOffline(true)
		p.wg.Wait()
	})
	return p
}

func (p *flakyProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *flakyProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.forward(c)
	}
}

// track records c, unless the proxy is offline.
func (p *flakyProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.offline {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *flakyProxy) forward(c net.Conn) {
	defer p.wg.Done()
	defer p.untrack(c)
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(up) {
		up.Close()
		return
	}
	defer p.untrack(up)
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(up, c)
		up.Close()
		close(done)
	}()
	_, _ = io.Copy(c, up)
	c.Close()
	<-done
}

func (p *flakyProxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	c.Close()
}

// setOffline cuts (true) or restores (false) the network.
func (p *flakyProxy) setOffline(off bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.offline = off
	if off {
		for c := range p.conns {
			c.Close()
		}
	}
}
