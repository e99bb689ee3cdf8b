package client

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tandem/collab"
	"tandem/ot"
)

// twoEditors signs up ann and bob, shares ann's document holding content
// with bob, and opens it for both: ann with her session cookie, bob with an
// API token.
func twoEditors(t *testing.T, s *server, content string, annOpts Options) (ann, bob *account, a, b *Doc, doc string) {
	t.Helper()
	ann, bob = s.signup("ann@example.com"), s.signup("bob@example.com")
	doc = ann.createDoc(content)
	ann.share(doc, bob, "bob@example.com")
	a = open(t, ann.dial(annOpts), doc)
	b = open(t, bob.dial(Options{Token: bob.token()}), doc)
	return ann, bob, a, b, doc
}

// randomEdits makes n random edits on d, pausing up to pause between them
// so that some arrive while an ack is awaited and some while synchronized.
func randomEdits(d *Doc, rng *rand.Rand, n int, pause time.Duration) error {
	for i := range n {
		// Edit, not Len then Insert: a remote op may come in between.
		err := d.Edit(func(_ string, l int) (ot.Op, error) {
			if l > 0 && rng.IntN(3) == 0 {
				pos := rng.IntN(l)
				return ot.Deletion(l, pos, 1+rng.IntN(min(3, l-pos))), nil
			}
			return ot.Insertion(l, rng.IntN(l+1), fmt.Sprintf("%c%d", 'a'+rune(rng.IntN(26)), i%10)), nil
		})
		if err != nil {
			return err
		}
		time.Sleep(time.Duration(rng.Int64N(int64(pause) + 1)))
	}
	return nil
}

// converge waits until every doc is synced and at the server's version, and
// checks that they hold the server's text.
func converge(t *testing.T, ann *account, doc string, docs ...*Doc) {
	t.Helper()
	ctx := ctxT(t)
	for _, d := range docs {
		if err := d.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want, v := ann.content(doc)
	for i, d := range docs {
		if err := d.WaitVersion(ctx, v); err != nil {
			t.Fatal(err)
		}
		if got := d.Text(); got != want {
			t.Fatalf("editor %d at %d: %q, server at %d: %q", i, d.Version(), got, v, want)
		}
	}
}

func TestConverge(t *testing.T) {
	s := startServer(t, nil)
	ann, _, a, b, doc := twoEditors(t, s, "hello wörld", Options{})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, d := range []*Doc{a, b} {
		wg.Go(func() { errs[i] = randomEdits(d, rand.New(rand.NewPCG(uint64(i), 1)), 150, 3*time.Millisecond) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	converge(t, ann, doc, a, b)
}

// history reads doc's stored op ids.
func (a *account) history(doc string) []string {
	a.s.t.Helper()
	var out struct {
		Ops []struct{ ID string }
	}
	a.call("GET", "/api/docs/"+doc+"/ops?from=1&limit=100000", nil, 200, &out)
	ids := make([]string, len(out.Ops))
	for i, op := range out.Ops {
		ids[i] = op.ID
	}
	return ids
}

// countingTransport counts the requests for op history.
type countingTransport struct{ history atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/ops") && r.Method == http.MethodGet {
		c.history.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestReconnectResendsOnce drops ann's socket right after some of her ops
// are sent, before their acks can arrive: the client reconnects, rejoins
// and re-sends them, and the server stores each exactly once. With a small
// catch-up window, rejoins come back with content while an op is pending,
// and the client takes the missing ops from the history (§10.4).
func TestReconnectResendsOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		window  int
		history bool // the history must have been read
	}{{"catch-up", 1000, false}, {"content", 1, true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, func(c *collab.Config) { c.WindowOps = tc.window })
			tr := &countingTransport{}
			ann := s.signup("ann@example.com")
			hc := &http.Client{Jar: ann.http.Jar, Transport: tr, Timeout: 30 * time.Second}
			bob := s.signup("bob@example.com")
			doc := ann.createDoc("start")
			ann.share(doc, bob, "bob@example.com")
			a := open(t, ann.dial(Options{HTTPClient: hc, MinBackoff: 5 * time.Millisecond}), doc)
			b := open(t, bob.dial(Options{Token: bob.token()}), doc)
			var drops, sends atomic.Int64
			var mu sync.Mutex
			sent := map[string]bool{}
			a.c.mu.Lock()
			a.c.onSent = func(id string) {
				mu.Lock()
				sent[id] = true
				mu.Unlock()
				if sends.Add(1)%4 == 0 {
					drops.Add(1)
					a.c.dropSocket()
				}
			}
			a.c.mu.Unlock()
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, d := range []*Doc{a, b} {
				wg.Go(func() {
					errs[i] = randomEdits(d, rand.New(rand.NewPCG(uint64(i), 2)), 150, time.Duration(4-3*i)*time.Millisecond)
				})
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			converge(t, ann, doc, a, b)
			if drops.Load() == 0 {
				t.Fatalf("no socket was dropped (%d sends)", sends.Load())
			}
			if tc.history && tr.history.Load() == 0 {
				t.Fatal("no rejoin came back with content while an op was pending")
			}
			seen := map[string]int{}
			for _, id := range ann.history(doc) {
				seen[id]++
			}
			mu.Lock()
			defer mu.Unlock()
			for id := range sent {
				if seen[id] != 1 {
					t.Errorf("op %s stored %d times", id, seen[id])
				}
			}
			t.Logf("%d sends, %d drops, %d history reads, %d ops stored", sends.Load(), drops.Load(), tr.history.Load(), len(seen))
		})
	}
}

// TestLargeDocument inserts more than a socket frame holds (sent over
// REST), and a second editor joins the large text and edits it.
func TestLargeDocument(t *testing.T) {
	s := startServer(t, nil)
	ann, _, a, b, doc := twoEditors(t, s, "", Options{})
	big := strings.Repeat("ünïcödé line\n", 25000) // 325k code points, ~450 KB
	if err := a.Insert(0, big); err != nil {
		t.Fatal(err)
	}
	if err := a.Insert(a.Len(), "end"); err != nil { // buffered meanwhile
		t.Fatal(err)
	}
	converge(t, ann, doc, a, b)
	if err := b.Delete(0, 13); err != nil {
		t.Fatal(err)
	}
	if err := a.Insert(5, "!"); err != nil {
		t.Fatal(err)
	}
	converge(t, ann, doc, a, b)
	if n := b.Len(); n != runeLen(big)+3-13+1 {
		t.Fatalf("length %d", n)
	}
}

func TestPresence(t *testing.T) {
	s := startServer(t, nil)
	_, _, a, b, _ := twoEditors(t, s, "hello", Options{})
	a.SetSelection([]ot.Range{{Anchor: 1, Head: 3}})
	ctx := ctxT(t)
	for {
		if ps := b.Presence(); len(ps) == 1 && len(ps[0].Selection) == 1 {
			if got := ps[0].Selection[0]; got != (ot.Range{Anchor: 1, Head: 3}) {
				t.Fatalf("selection %v", got)
			}
			break
		}
		select {
		case <-b.Changes():
		case <-ctx.Done():
			t.Fatalf("no presence: %v", b.Presence())
		}
	}
	// An insert before it moves it, locally at once.
	if err := b.Insert(0, "ab"); err != nil {
		t.Fatal(err)
	}
	if got := b.Presence()[0].Selection[0]; got != (ot.Range{Anchor: 3, Head: 5}) {
		t.Fatalf("moved selection %v", got)
	}
}

func TestErrors(t *testing.T) {
	s := startServer(t, nil)
	ann := s.signup("ann@example.com")
	ctx := ctxT(t)
	if _, err := Dial(ctx, s.URL, Options{Token: "tdm_nonsense"}); Code(err) != "unauthorized" {
		t.Fatalf("bad token: %v", err)
	}
	c := ann.dial(Options{})
	if _, err := c.Open(ctx, "nope"); Code(err) != "not_found" {
		t.Fatalf("open a stranger's document: %v", err)
	}
	d := open(t, c, ann.createDoc("abc"))
	if err := d.Insert(4, "x"); err == nil {
		t.Fatal("insert past the end accepted")
	}
	if err := d.Insert(0, "a\rb"); err == nil {
		t.Fatal("a carriage return accepted")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Insert(0, "x"); err != ErrClosed {
		t.Fatalf("edit after close: %v", err)
	}
}

// TestRateLimited: ops refused as rate_limited are re-sent after a wait,
// and each is stored once.
func TestRateLimited(t *testing.T) {
	s := startServer(t, func(c *collab.Config) { c.OpsPerSecond, c.OpsBurst = 20, 1 })
	ann := s.signup("ann@example.com")
	doc := ann.createDoc("")
	d := open(t, ann.dial(Options{RateLimitWait: 20 * time.Millisecond}), doc)
	var sends atomic.Int64
	d.c.mu.Lock()
	d.c.onSent = func(string) { sends.Add(1) } // re-sends included
	d.c.mu.Unlock()
	ctx := ctxT(t)
	for i := range 15 {
		if err := d.Insert(d.Len(), fmt.Sprint(i%10)); err != nil {
			t.Fatal(err)
		}
		if err := d.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if text, v := ann.content(doc); text != "012345678901234" || v != 15 || d.Text() != text {
		t.Fatalf("server %q at %d, client %q", text, v, d.Text())
	}
	if n := sends.Load(); n <= 15 {
		t.Fatalf("%d sends for 15 ops: none was rate limited", n)
	}
}

// TestRestoreWhileTyping: bob types while ann restores older versions over
// REST, several times; each restore reaches both editors as an op, and
// they converge on the server's text.
func TestRestoreWhileTyping(t *testing.T) {
	s := startServer(t, nil)
	ann, _, a, b, doc := twoEditors(t, s, "the first line\n", Options{})
	if err := randomEdits(a, rand.New(rand.NewPCG(7, 1)), 30, 0); err != nil {
		t.Fatal(err)
	}
	converge(t, ann, doc, a, b)
	old, at := ann.content(doc)
	done := make(chan error, 1)
	go func() { done <- randomEdits(b, rand.New(rand.NewPCG(8, 1)), 150, 2*time.Millisecond) }()
	versions := []int64{0, at, 3}
	for i, v := range versions {
		var out struct{ Version int64 }
		ann.call("POST", "/api/docs/"+doc+"/restore", map[string]any{"version": v, "id": fmt.Sprintf("restore-%d", i)}, http.StatusOK, &out)
		if err := a.WaitVersion(ctxT(t), out.Version); err != nil {
			t.Fatalf("ann's editor never reached her restore's version %d: %v", out.Version, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	converge(t, ann, doc, a, b)
	// With bob done, one more restore lands exactly.
	var out struct{ Version int64 }
	ann.call("POST", "/api/docs/"+doc+"/restore", map[string]any{"version": at, "id": "restore-last"}, http.StatusOK, &out)
	converge(t, ann, doc, a, b)
	if got := a.Text(); got != old {
		t.Errorf("after restoring %d: %q, want %q", at, got, old)
	}
}
