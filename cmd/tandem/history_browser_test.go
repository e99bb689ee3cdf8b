package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// pageFetch makes a same-origin request from the page (with its session
// cookie) and returns the status and body.
func (p *page) pageFetch(method, path string, body any) (int, string) {
	p.t.Helper()
	b, _ := json.Marshal(body)
	if body == nil {
		b = []byte("undefined")
	}
	eval[bool](p, fmt.Sprintf(`(window.__fetched = null, fetch(%q, {method: %q, headers: {"Content-Type": "application/json"}, body: %s && JSON.stringify(%s)})
		.then(async (r) => { window.__fetched = {status: r.status, body: await r.text()}; })
		.catch((e) => { window.__fetched = {status: 0, body: String(e)}; }), true)`, path, method, b, b))
	p.waitFor(`window.__fetched !== null`, method+" "+path, 10*time.Second)
	var res struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	if err := json.Unmarshal([]byte(eval[string](p, `JSON.stringify(window.__fetched)`)), &res); err != nil {
		p.t.Fatal(err)
	}
	return res.Status, res.Body
}

// docVersion is the document's committed version, read from the store.
func docVersion(t *testing.T, srv *server, docID string) int64 {
	t.Helper()
	_, c, err := srv.backend.store.Load(t.Context(), docID)
	if err != nil {
		t.Fatal(err)
	}
	return c.Version
}

// historyShows waits until the history panel shows version v with text.
func (p *page) historyShows(v int64, text string) {
	p.t.Helper()
	js, _ := json.Marshal(text)
	p.waitFor(fmt.Sprintf(`(() => {
		const s = window.tandem.history();
		const el = document.querySelector(".history");
		if (!s || s.version !== %d || el?.dataset.state !== "ready" || el.dataset.version !== "%d") return false;
		// What is drawn, without the marked removals, is the text.
		const drawn = [...document.querySelectorAll(".history-text > span.hist-run, .history-text > mark")].map((e) => e.textContent).join("");
		return s.text === %s && drawn === s.text;
	})()`, v, v, js), fmt.Sprintf("the history panel at version %d", v), 10*time.Second)
}

// slideTo moves the history slider to v as a person dragging it would.
func (p *page) slideTo(v int64) {
	p.t.Helper()
	eval[bool](p, fmt.Sprintf(`(() => {
		const s = document.querySelector(".history-slider");
		s.value = "%d";
		return s.dispatchEvent(new Event("input", {bubbles: true}));
	})()`, v))
}

// TestBrowserHistory: two people type; the history panel's slider walks
// back and forth and shows the text at each chosen version, coloured by
// who wrote it; a named version is saved, then restored while the other
// person keeps typing, as one edit that undo takes back; both converge;
// the export matches the text at its version.
func TestBrowserHistory(t *testing.T) {
	browserPath := chromiumPath(t)
	srv := startServer(t, testConfig(t, "postgres"))
	browser := startBrowser(t, browserPath)
	alice := openPage(t, browser, "alice")
	bob := openPage(t, browser, "bob")
	alice.signUp(srv.URL(), "Alice Archer", "alice@example.com")
	bob.signUp(srv.URL(), "Bob Baker", "bob@example.com")

	status, body := alice.pageFetch("POST", "/api/docs", map[string]string{"title": "History test"})
	if status != 201 {
		t.Fatalf("create: %d %s", status, body)
	}
	var d docBody
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	if status, body := alice.pageFetch("PUT", "/api/docs/"+d.ID+"/members", map[string]string{"email": "bob@example.com", "role": "editor"}); status != 202 {
		t.Fatalf("share: %d %s", status, body)
	}
	if status, body := bob.pageFetch("POST", "/api/invitations/"+d.ID+"/accept", nil); status != 200 {
		t.Fatalf("accept: %d %s", status, body)
	}
	for _, p := range []*page{alice, bob} {
		p.do(chromedp.Navigate(srv.URL() + "/d/" + d.ID))
		p.waitJoined()
	}

	// Three stops, each after the other's typing has landed.
	type stop struct {
		version int64
		text    string
	}
	var stops []stop
	for i, step := range []struct {
		who *page
		s   string
	}{{alice, "One by Alice. "}, {bob, "Two by Bob. "}, {alice, "Three by Alice."}} {
		if err := step.who.typeAt("end", step.s); err != nil {
			t.Fatal(err)
		}
		text := converge(t, srv, d.ID, alice, bob)
		stops = append(stops, stop{docVersion(t, srv, d.ID), text})
		t.Logf("stop %d: version %d %q", i, stops[i].version, text)
	}
	head := stops[2]

	// Alice opens the history with its shortcut: it starts at the head.
	alice.do(chromedp.Focus(".cm-content"), chromedp.KeyEvent("h", chromedp.KeyModifiers(chromedp.ModifierCtrl|chromedp.ModifierAlt)))
	alice.waitFor(`!!document.querySelector(".history") && document.querySelector(".editor-host").hidden`, "the history panel", 5*time.Second)
	alice.historyShows(head.version, head.text)
	alice.waitFor(`document.querySelectorAll(".timeline .bucket").length > 0`, "the timeline", 5*time.Second)

	// The slider walks back and forth.
	for _, i := range []int{0, 2, 1, 0, 1} {
		alice.slideTo(stops[i].version)
		alice.historyShows(stops[i].version, stops[i].text)
	}
	// At the second stop both wrote: the legend names both, and Bob's
	// words are drawn in his runs.
	alice.waitFor(`[...document.querySelectorAll(".history-legend li")].map((l) => l.textContent).sort().join("|") === "Alice Archer|Bob Baker"`, "both authors in the legend", 5*time.Second)
	alice.screenshot("history") // the README's picture
	bobsRuns := eval[string](alice, `[...document.querySelectorAll(".history-text [title='Bob Baker']")].map((e) => e.textContent).join("")`)
	if bobsRuns != "Two by Bob. " {
		t.Errorf("drawn as Bob's at version %d: %q, want %q", stops[1].version, bobsRuns, "Two by Bob. ")
	}
	// Stepping one version back from the second stop marks what changed.
	alice.do(chromedp.Click(`button[aria-label="Previous version"]`))
	alice.waitFor(fmt.Sprintf(`document.querySelector(".history")?.dataset.version === "%d" && document.querySelector(".history").dataset.state === "ready"`, stops[1].version-1), "one step back", 5*time.Second)
	// (Bob's last op holds his last keystrokes: one or a few characters.)
	if got := eval[string](alice, `[...document.querySelectorAll(".history-text del")].map((e) => e.textContent).join("")`); got == "" || !strings.HasSuffix("Two by Bob. ", got) {
		t.Errorf("one step back marks %q as removed, want the end of Bob's words", got)
	}

	// Export matches the text at its version, in both formats.
	for _, s := range stops {
		for _, format := range []string{"txt", "md"} {
			status, body := alice.pageFetch("GET", fmt.Sprintf("/api/docs/%s/export?version=%d&format=%s", d.ID, s.version, format), nil)
			if status != 200 || body != s.text {
				t.Errorf("export of version %d as %s: %d %q, want %q", s.version, format, status, body, s.text)
			}
		}
	}

	// Alice names the first stop.
	alice.slideTo(stops[0].version)
	alice.historyShows(stops[0].version, stops[0].text)
	alice.do(chromedp.SendKeys(".history-save input", "First draft"), chromedp.Click(".history-save button"))
	alice.waitFor(fmt.Sprintf(`document.querySelector('.history-saved li[data-version="%d"]')?.textContent.includes("First draft")`, stops[0].version), "the named version in the list", 5*time.Second)

	// She goes elsewhere, picks it from the list and restores it while Bob
	// keeps typing at the end.
	alice.slideTo(head.version)
	alice.historyShows(head.version, head.text)
	alice.do(chromedp.Click(fmt.Sprintf(`.history-saved li[data-version="%d"] button.link`, stops[0].version)))
	alice.historyShows(stops[0].version, stops[0].text)
	const bobMore = "Bob keeps typing and typing while Alice restores an older version."
	before := docVersion(t, srv, d.ID)
	concurrently(t,
		func() error { return bob.typeAt("end", bobMore) },
		func() error {
			time.Sleep(150 * time.Millisecond) // Bob is under way
			return chromedp.Do(alice.ctx, chromedp.Click(".history-restore"))
		},
	)
	alice.waitFor(`!document.querySelector(".history") && !document.querySelector(".editor-host").hidden`, "the editor back after the restore", 5*time.Second)
	text := converge(t, srv, d.ID, alice, bob)
	// The restore takes out what Alice saw of Bob's typing with the rest;
	// what he typed after it reached him stays, after the restored text.
	rest, ok := strings.CutPrefix(text, stops[0].text)
	if !ok || rest == "" || !strings.HasSuffix(bobMore, rest) {
		t.Errorf("after the restore: %q, want %q and then the end of %q", text, stops[0].text, bobMore)
	}
	// The restore is one op of Alice's among Bob's keystrokes.
	status, body = alice.pageFetch("GET", fmt.Sprintf("/api/docs/%s/ops?from=%d", d.ID, before+1), nil)
	var page struct {
		Ops []struct {
			User string `json:"user"`
		} `json:"ops"`
	}
	if err := json.Unmarshal([]byte(body), &page); status != 200 || err != nil {
		t.Fatalf("ops since the restore: %d %s", status, body)
	}
	status, body = alice.pageFetch("GET", "/api/me", nil)
	var me struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	if json.Unmarshal([]byte(body), &me); status != 200 || me.User.ID == "" {
		t.Fatalf("me: %d %s", status, body)
	}
	alices := 0
	for _, o := range page.Ops {
		if o.User == me.User.ID {
			alices++
		}
	}
	if alices != 1 {
		t.Errorf("the restore made %d ops of Alice's, want 1 (ops since: %s)", alices, body)
	}

	// Undo takes the restore back, Bob's typing stays.
	alice.do(chromedp.Focus(".cm-content"), chromedp.KeyEvent("z", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	text = converge(t, srv, d.ID, alice, bob)
	// The stretch the restore took out comes back whole at its place, next
	// to what Bob typed there since (before or after it: both are fair).
	removed := strings.TrimPrefix(stops[2].text, stops[0].text) + strings.TrimSuffix(bobMore, rest)
	if text != stops[0].text+removed+rest && text != stops[0].text+rest+removed {
		t.Errorf("after undoing the restore: %q", text)
	}
}
