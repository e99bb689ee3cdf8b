package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/collab"
	"tandem/store"
)

// receiver is a real HTTP webhook receiver: it checks every delivery's
// signature and remembers it.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret func() string
	status int           // what it answers
	hang   chan struct{} // if set, it answers only once this is closed

	mu   sync.Mutex
	got  []delivered
	bads []string
}

type delivered struct {
	at      time.Time
	event   collab.WebhookEvent
	attempt int
	app     string
}

func newReceiver(t *testing.T, status int, hang bool) *receiver {
	rc := &receiver{t: t, status: status}
	if hang {
		rc.hang = make(chan struct{})
	}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(func() {
		if rc.hang != nil {
			close(rc.hang)
		}
		rc.srv.Close()
	})
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev collab.WebhookEvent
	err := json.Unmarshal(body, &ev)
	if err == nil {
		err = collab.VerifyWebhook(rc.secret(), r.Header.Get(collab.SignatureHeader), body, time.Now(), 5*time.Minute)
	}
	attempt, _ := strconv.Atoi(r.Header.Get(collab.AttemptHeader))
	rc.mu.Lock()
	if err != nil {
		rc.bads = append(rc.bads, err.Error())
	}
	rc.got = append(rc.got, delivered{at: time.Now(), event: ev, attempt: attempt, app: r.Header.Get(collab.AppHeader)})
	rc.mu.Unlock()
	if rc.hang != nil {
		select {
		case <-rc.hang:
		case <-r.Context().Done():
		}
	}
	w.WriteHeader(rc.status)
}

// deliveries returns what arrived so far; it fails the test on a bad
// signature.
func (rc *receiver) deliveries() []delivered {
	rc.t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.bads) > 0 {
		rc.t.Fatalf("deliveries that do not verify: %v", rc.bads)
	}
	return slices.Clone(rc.got)
}

// waitFor waits until n deliveries have arrived and returns them.
func (rc *receiver) waitFor(n int, within time.Duration) []delivered {
	rc.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := rc.deliveries()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			rc.t.Fatalf("%d deliveries after %s, want %d: %+v", len(got), within, n, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hook registers the receiver as the app's webhook, checking that only an
// admin may.
func (e *appEnv) hook(rc *receiver) {
	e.t.Helper()
	stranger, _ := signup(e.t, e.srv, fmt.Sprintf("stranger-%d@example.com", time.Now().UnixNano()))
	path := "/api/apps/" + e.appID + "/webhook"
	stranger.want(stranger.do("POST", path, map[string]string{"url": rc.srv.URL}), 403, "forbidden", "a non-admin sets a webhook")
	stranger.want(stranger.do("GET", "/api/apps/"+e.appID+"/deliveries", nil), 403, "forbidden", "a non-admin reads the log")
	app := e.appClient()
	app.want(app.do("POST", path, map[string]string{"url": rc.srv.URL}), 403, "forbidden", "the app sets its own webhook")
	e.admin.want(e.admin.do("POST", path, map[string]string{"url": "ftp://example.com/"}), 400, "bad_request", "an ftp URL")
	r := e.admin.do("POST", path, map[string]string{"url": rc.srv.URL})
	e.admin.want(r, 201, "", "admin sets the webhook")
	var created collab.WebhookCreated
	r.json(e.t, &created)
	if created.Webhook.URL != rc.srv.URL || created.Secret == "" {
		e.t.Fatalf("webhook set: %+v", created)
	}
	rc.secret = func() string { return created.Secret }
}

// typer appends to one of the app's documents over REST, op by op, each
// against the version the last returned.
type typer struct {
	e       *appEnv
	c       *client
	doc     string
	version int64
	length  int
	n       int
}

func (e *appEnv) typer(doc string, version int64, length int) *typer {
	return &typer{e: e, c: e.appClient(), doc: doc, version: version, length: length}
}

// typeOne sends one op and returns how long its acknowledgement took.
func (ty *typer) typeOne() time.Duration {
	ty.e.t.Helper()
	ty.n++
	op := []any{ty.length, "x"}
	if ty.length == 0 {
		op = []any{"x"} // no zero retain
	}
	start := time.Now()
	r := ty.c.do("POST", "/api/docs/"+ty.doc+"/ops", map[string]any{
		"version": ty.version, "id": fmt.Sprintf("op-%d", ty.n), "op": op})
	took := time.Since(start)
	ty.c.want(r, 200, "", "submit op")
	var v struct {
		Version int64 `json:"version"`
	}
	r.json(ty.e.t, &v)
	ty.version, ty.length = v.Version, ty.length+1
	return took
}

// TestWebhookDebounce: many edits within the window give one delivery,
// signed, with the latest version and title; a second window gives a
// second; the log over REST shows them.
func TestWebhookDebounce(t *testing.T) {
	const debounce = 1500 * time.Millisecond
	e := newAppEnv(t, "--webhook-allow-private", "--webhook-debounce", debounce.String())
	rc := newReceiver(t, http.StatusNoContent, false)
	e.hook(rc)

	ty := e.typer("a", 0, len("hello"))
	for round := 1; round <= 2; round++ {
		start := time.Now()
		for range 10 {
			ty.typeOne()
		}
		typing := time.Since(start)
		got := rc.waitFor(round, 2*debounce+5*time.Second)
		time.Sleep(debounce / 2) // nothing more comes
		got = rc.deliveries()
		last := got[len(got)-1]
		if last.event != (collab.WebhookEvent{Doc: "a", Version: ty.version, Title: "A"}) || last.app != e.appID || last.attempt != 1 {
			t.Errorf("round %d: last delivery %+v, want doc a at version %d", round, last, ty.version)
		}
		if wait := last.at.Sub(start); wait < debounce-50*time.Millisecond {
			t.Errorf("round %d: delivered %s after the first edit, before the debounce (%s)", round, wait, debounce)
		}
		if typing < debounce && len(got) != round {
			t.Errorf("round %d: 10 edits in %s gave %d deliveries in all, want %d", round, typing, len(got), round)
		}
	}
	got := rc.deliveries()
	for i := 1; i < len(got); i++ {
		if gap := got[i].at.Sub(got[i-1].at); gap < debounce-50*time.Millisecond {
			t.Errorf("deliveries %d and %d came %s apart, closer than the debounce", i-1, i, gap)
		}
	}

	r := e.admin.do("GET", "/api/apps/"+e.appID+"/deliveries?limit=10", nil)
	e.admin.want(r, 200, "", "delivery log")
	var log struct {
		Deliveries []store.Delivery `json:"deliveries"`
	}
	r.json(t, &log)
	if len(log.Deliveries) != len(got) || log.Deliveries[0].Version != ty.version || log.Deliveries[0].Status != 204 ||
		log.Deliveries[0].DocID != "a" || log.Deliveries[0].Error != "" {
		t.Errorf("log = %+v, want %d deliveries, newest at version %d", log.Deliveries, len(got), ty.version)
	}
	e.admin.want(e.admin.do("GET", "/api/apps/"+e.appID+"/deliveries?limit=0", nil), 400, "bad_request", "limit 0")
	e.admin.want(e.admin.do("GET", "/api/apps/"+e.appID+"/webhook", nil), 200, "", "get webhook")
	e.admin.want(e.admin.do("DELETE", "/api/apps/"+e.appID+"/webhook", nil), 204, "", "delete webhook")
	e.admin.want(e.admin.do("DELETE", "/api/apps/"+e.appID+"/webhook", nil), 404, "not_found", "delete it again")
	ty.typeOne()
	time.Sleep(debounce + 500*time.Millisecond)
	if n := len(rc.deliveries()); n != len(got) {
		t.Errorf("%d deliveries after the webhook was removed, want %d", n, len(got))
	}
}

// TestWebhookRoomClose: a room that closes delivers its pending change at
// once, not after the debounce.
func TestWebhookRoomClose(t *testing.T) {
	e := newAppEnv(t, "--webhook-allow-private", "--webhook-debounce", "1m", "--idle-room", "300ms")
	rc := newReceiver(t, http.StatusOK, false)
	e.hook(rc)
	ty := e.typer("team-b", 0, 0)
	for range 3 {
		ty.typeOne()
	}
	got := rc.waitFor(1, 10*time.Second)
	if len(got) != 1 || got[0].event != (collab.WebhookEvent{Doc: "team-b", Version: 3, Title: "B"}) {
		t.Errorf("deliveries at room close = %+v", got)
	}
}

// TestWebhookReceiverDown: a receiver that fails gets retries with
// backoff, logged; one that hangs never slows the edits.
func TestWebhookReceiverDown(t *testing.T) {
	const backoff = 200 * time.Millisecond
	e := newAppEnv(t, "--webhook-allow-private", "--webhook-debounce", "100ms",
		"--webhook-retries", "3", "--webhook-backoff", backoff.String(), "--webhook-timeout", "10s")

	// Edits' latency with no webhook, for comparison.
	ty := e.typer("a", 0, len("hello"))
	var base []time.Duration
	for range 30 {
		base = append(base, ty.typeOne())
	}

	// A receiver that answers 500: three attempts, backing off, in the log.
	failing := newReceiver(t, http.StatusInternalServerError, false)
	e.hook(failing)
	ty.typeOne()
	got := failing.waitFor(3, 10*time.Second)
	time.Sleep(3 * backoff)
	if got = failing.deliveries(); len(got) != 3 {
		t.Fatalf("%d attempts, want 3 (--webhook-retries): %+v", len(got), got)
	}
	for i, d := range got {
		if d.attempt != i+1 || d.event.Version != ty.version {
			t.Errorf("attempt %d: %+v", i+1, d)
		}
		if i > 0 {
			want := backoff << (i - 1)
			if gap := d.at.Sub(got[i-1].at); gap < want-20*time.Millisecond {
				t.Errorf("attempt %d came %s after the one before, want at least %s", i+1, gap, want)
			}
		}
	}
	r := e.admin.do("GET", "/api/apps/"+e.appID+"/deliveries", nil)
	e.admin.want(r, 200, "", "delivery log")
	var log struct {
		Deliveries []store.Delivery `json:"deliveries"`
	}
	r.json(t, &log)
	if len(log.Deliveries) != 3 || log.Deliveries[0].Attempt != 3 || log.Deliveries[2].Attempt != 1 ||
		log.Deliveries[0].Status != 500 || log.Deliveries[0].Error == "" {
		t.Errorf("log = %+v", log.Deliveries)
	}

	// A receiver that is gone: status 0 and the error, logged.
	gone := newReceiver(t, http.StatusOK, false)
	e.hook(gone)
	gone.srv.Close()
	ty.typeOne()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := e.admin.do("GET", "/api/apps/"+e.appID+"/deliveries?limit=1", nil)
		r.json(t, &log)
		if d := log.Deliveries[0]; d.Status == 0 && d.Error != "" && d.Version == ty.version {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed attempt logged for a closed receiver: %+v", log.Deliveries)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A receiver that hangs (for the whole phase; the attempt's timeout is
	// 10 s) while a closed-loop writer types through many debounce windows:
	// its edits are acked about as fast as without a webhook. Were the room
	// waiting on the delivery, an ack would take seconds. (The bounds allow
	// for a shared, loaded machine under -race.)
	hung := newReceiver(t, http.StatusOK, true)
	e.hook(hung)
	var with []time.Duration
	for range 30 {
		with = append(with, ty.typeOne())
		time.Sleep(15 * time.Millisecond) // spans several 100 ms windows
	}
	if len(hung.deliveries()) == 0 {
		t.Fatal("no delivery reached the hanging receiver while the writer typed")
	}
	slices.Sort(base)
	slices.Sort(with)
	p50b, p50w, maxw := base[len(base)/2], with[len(with)/2], with[len(with)-1]
	t.Logf("ack latency without a webhook: p50 %s; with a hanging receiver: p50 %s, max %s", p50b, p50w, maxw)
	if maxw > 3*time.Second || p50w > 3*p50b+30*time.Millisecond {
		t.Errorf("edits slowed by a hanging receiver: p50 %s (without: %s), max %s", p50w, p50b, maxw)
	}
}

// TestWebhookClusterOwnerOnly: two servers on one database. The document's
// room is owned by A; edits made through B are relayed to A and committed
// there. Only A delivers: B, a relay, sends nothing.
func TestWebhookClusterOwnerOnly(t *testing.T) {
	cfg := testConfig(t, "postgres", "--webhook-allow-private", "--webhook-debounce", "300ms")
	cfg.clusterSecret = "webhook-test-cluster-secret"
	a := startServer(t, cfg)
	b := startServer(t, cfg)
	e := registerApp(t, a, "Wiki")
	rc := newReceiver(t, http.StatusOK, false)
	e.hook(rc)
	app := e.appClient()
	app.want(app.do("PUT", "/api/apps/docs/shared", map[string]string{"title": "Shared"}), 201, "", "app creates a document")

	onA := e.typer("shared", 0, 0)
	onA.typeOne() // A's room takes the lease
	onB := e.typer("shared", onA.version, onA.length)
	onB.c.base = b.URL()
	onB.n = 100 // op ids are per author: the same app account
	for range 5 {
		onB.typeOne()
	}
	got := rc.waitFor(1, 10*time.Second)
	time.Sleep(time.Second)
	got = rc.deliveries()
	if last := got[len(got)-1]; last.event.Version != onB.version {
		t.Errorf("last delivery %+v, want version %d", last, onB.version)
	}
	sent := func(s *server) float64 {
		return metric(t, s.URL(), `tandem_webhook_attempts_total{outcome="delivered"}`)
	}
	if na, nb := sent(a), sent(b); na != float64(len(got)) || nb != 0 {
		t.Errorf("deliveries sent by A: %v, by B: %v; want %d and 0 (the receiver got %d)", na, nb, len(got), len(got))
	}
	if n := metric(t, b.URL(), "tandem_cluster_links_out"); n != 1 {
		t.Errorf("B has %v links out, want 1: it was not relaying", n)
	}
}

// TestWebhookCommand: `tandem app create --webhook`, `tandem app webhook`
// and `tandem app unhook`, with the URL rules.
func TestWebhookCommand(t *testing.T) {
	t.Setenv("TANDEM_DATABASE_URL", "")
	dir := t.TempDir()
	if code, _, errOut := tandem(t, "migrate", "up", "--data-dir", dir); code != 0 {
		t.Fatalf("migrate up: %s", errOut)
	}
	code, out, errOut := tandem(t, "app", "create", "--data-dir", dir, "--name", "Wiki", "--webhook", "http://127.0.0.1:9000/hook")
	if code == 0 || !strings.Contains(errOut, "not a public address") {
		t.Errorf("a loopback webhook without --webhook-allow-private: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut = tandem(t, "app", "create", "--data-dir", dir, "--name", "Wiki", "--webhook", "http://127.0.0.1:9000/hook", "--webhook-allow-private")
	if code != 0 || !strings.Contains(out, "webhook secret: whsec_") {
		t.Fatalf("app create --webhook: exit %d, %q %q", code, out, errOut)
	}
	id := strings.Fields(out[strings.Index(out, "id:"):])[1]
	for _, step := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"app", "webhook", id, "https://hooks.example.com/tandem"}, 0, "webhook secret: whsec_"},
		{[]string{"app", "webhook", id, "file:///etc/passwd"}, 2, "http:// or https://"},
		{[]string{"app", "webhook", "no-such-app", "https://hooks.example.com/tandem"}, 1, "no-such-app"},
		{[]string{"app", "unhook", id}, 0, "removed the webhook"},
		{[]string{"app", "unhook", id}, 1, "has no webhook"},
	} {
		code, out, errOut := tandem(t, append(step.args, "--data-dir", dir)...)
		if code != step.code || !strings.Contains(out+errOut, step.want) {
			t.Errorf("tandem %s: exit %d, %q %q; want exit %d and %q", strings.Join(step.args, " "), code, out, errOut, step.code, step.want)
		}
	}
}
