package collab

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"tandem/store"
)

// TestWebhookURL: what a webhook URL may be, with and without
// --webhook-allow-private.
func TestWebhookURL(t *testing.T) {
	for _, tc := range []struct {
		url           string
		ok, okPrivate bool
	}{
		{"https://hooks.example.com/tandem", true, true},
		{"http://203.0.113.7:8080/h?x=1", true, true},
		{"http://[2001:db8::1]/h", true, true},
		{"ftp://example.com/", false, false},
		{"/relative", false, false},
		{"https://", false, false},
		{"https://user:pw@example.com/", false, false},
		{"https://example.com/#frag", false, false},
		{"https://example.com/" + strings.Repeat("a", MaxWebhookURL), false, false},
		{"http://localhost:8080/", false, true},
		{"http://api.localhost/", false, true},
		{"http://127.0.0.1/", false, true},
		{"http://10.1.2.3/", false, true},
		{"http://192.168.1.1/", false, true},
		{"http://169.254.169.254/latest/meta-data", false, true},
		{"http://100.64.0.1/", false, true},
		{"http://[::1]/", false, true},
		{"http://[fd00::1]/", false, true},
		{"http://[::ffff:127.0.0.1]/", false, true},
		{"http://0.0.0.0/", false, true},
	} {
		if err := CheckWebhookURL(tc.url, false); (err == nil) != tc.ok {
			t.Errorf("CheckWebhookURL(%.60q) = %v, want ok %t", tc.url, err, tc.ok)
		}
		if err := CheckWebhookURL(tc.url, true); (err == nil) != tc.okPrivate {
			t.Errorf("CheckWebhookURL(%.60q, allow private) = %v, want ok %t", tc.url, err, tc.okPrivate)
		}
	}
	if publicAddr(netip.MustParseAddr("224.0.0.1")) || !publicAddr(netip.MustParseAddr("8.8.8.8")) {
		t.Error("publicAddr: multicast allowed or a public address refused")
	}
}

// TestWebhookSignature: a signature verifies with the secret, and not with
// another secret, another body, or once it is too old (a replay).
func TestWebhookSignature(t *testing.T) {
	body := []byte(`{"doc":"a","version":3,"title":"A"}`)
	now := time.Unix(1_800_000_000, 0)
	sig := SignWebhook("whsec_x", now, body)
	if !strings.HasPrefix(sig, "t=1800000000,v1=") {
		t.Fatalf("signature %q", sig)
	}
	if err := VerifyWebhook("whsec_x", sig, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("a good signature: %v", err)
	}
	for what, err := range map[string]error{
		"another secret": VerifyWebhook("whsec_y", sig, body, now, 5*time.Minute),
		"another body":   VerifyWebhook("whsec_x", sig, []byte(`{"doc":"a","version":4,"title":"A"}`), now, 5*time.Minute),
		"a replay":       VerifyWebhook("whsec_x", sig, body, now.Add(6*time.Minute), 5*time.Minute),
		"no timestamp":   VerifyWebhook("whsec_x", sig[strings.Index(sig, ",")+1:], body, now, 5*time.Minute),
		"a changed time": VerifyWebhook("whsec_x", strings.Replace(sig, "t=1800000000", "t=1800000001", 1), body, now, 5*time.Minute),
	} {
		if err == nil {
			t.Errorf("%s verifies", what)
		}
	}
}

// fakeHooks is a store.Webhooks in memory: every document whose id starts
// with "app/" has a webhook.
type fakeHooks struct {
	mu   sync.Mutex
	log  []store.Delivery
	none bool // no app has a webhook
}

func (f *fakeHooks) AnyWebhooks(context.Context) (bool, error) { return !f.none, nil }

func (f *fakeHooks) SetWebhook(context.Context, string, string, string) (store.Webhook, error) {
	return store.Webhook{}, nil
}
func (f *fakeHooks) DeleteWebhook(context.Context, string) error { return nil }
func (f *fakeHooks) Webhook(context.Context, string) (store.Webhook, error) {
	return store.Webhook{}, store.ErrNotFound
}
func (f *fakeHooks) DocWebhook(_ context.Context, doc string) (store.DocHook, error) {
	if !strings.HasPrefix(doc, "app/") {
		return store.DocHook{}, store.ErrNotFound
	}
	return store.DocHook{Webhook: store.Webhook{AppID: "app", URL: "http://receiver", Secret: "s"}, Title: "T"}, nil
}
func (f *fakeHooks) RecordDelivery(_ context.Context, d store.Delivery) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, d)
	return nil
}
func (f *fakeHooks) Deliveries(context.Context, string, int) ([]store.Delivery, error) {
	return nil, nil
}

func (f *fakeHooks) attempts() []store.Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

// newTestWebhooks is a dispatcher on a fakeHooks whose sends answer with
// status(attempt) after waiting on gate (if not nil).
func newTestWebhooks(t *testing.T, status func(attempt int) int, gate chan struct{}) (*webhooks, *fakeHooks) {
	cfg := DefaultConfig()
	cfg.WebhookDebounce, cfg.WebhookBackoff, cfg.WebhookRetries, cfg.WebhookWorkers = 200*time.Millisecond, 50*time.Millisecond, 3, 1
	f := &fakeHooks{}
	w := newWebhooks(f, cfg, slog.New(slog.DiscardHandler), newMetrics(prometheus.NewRegistry()))
	w.activate() // as the watcher will find
	w.mu.Lock()
	w.send = func(ctx context.Context, doc string, h store.DocHook, version int64, attempt int) store.Delivery {
		if gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
			}
		}
		return store.Delivery{AppID: h.AppID, DocID: doc, Version: version, Attempt: attempt, Status: status(attempt), At: time.Now()}
	}
	w.mu.Unlock()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w.close(ctx)
	})
	return w, f
}

func waitAttempts(t *testing.T, f *fakeHooks, n int) []store.Delivery {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(f.attempts()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d attempts, want %d: %+v", len(f.attempts()), n, f.attempts())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return f.attempts()
}

// TestWebhookDispatcher: changes fold into one delivery per window; a
// closed room's goes at once; failures are retried with backoff, then
// given up; documents with no webhook send nothing.
func TestWebhookDispatcher(t *testing.T) {
	ok := func(int) int { return 204 }
	w, f := newTestWebhooks(t, ok, nil)
	start := time.Now()
	for v := int64(1); v <= 50; v++ {
		w.changed("app/a", v)
		w.changed("person/b", v)
	}
	got := waitAttempts(t, f, 1)
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("delivered after %s, before the debounce", took)
	}
	time.Sleep(300 * time.Millisecond)
	if got = f.attempts(); len(got) != 1 || got[0].Version != 50 || got[0].DocID != "app/a" {
		t.Errorf("deliveries = %+v, want one of app/a at 50", got)
	}
	if n := w.pending(); n != 0 {
		t.Errorf("%d documents still pending", n)
	}

	start = time.Now()
	w.changed("app/c", 7)
	w.closed("app/c")
	got = waitAttempts(t, f, 2)
	if took := time.Since(start); took > 150*time.Millisecond || got[1].Version != 7 {
		t.Errorf("at room close: %+v after %s", got[1], took)
	}

	failing, f2 := newTestWebhooks(t, func(int) int { return 503 }, nil)
	failing.changed("app/d", 3)
	got = waitAttempts(t, f2, 3)
	time.Sleep(250 * time.Millisecond)
	if got = f2.attempts(); len(got) != 3 {
		t.Fatalf("%d attempts, want 3", len(got))
	}
	for i := 1; i < 3; i++ {
		if gap, want := got[i].At.Sub(got[i-1].At), 50*time.Millisecond<<(i-1); gap < want-10*time.Millisecond || got[i].Attempt != i+1 {
			t.Errorf("attempt %d: %s after the one before, want %s", got[i].Attempt, gap, want)
		}
	}
	refused, f3 := newTestWebhooks(t, func(int) int { return 400 }, nil)
	refused.changed("app/e", 1)
	waitAttempts(t, f3, 1)
	time.Sleep(150 * time.Millisecond)
	if n := len(f3.attempts()); n != 1 {
		t.Errorf("a 400 was retried: %d attempts", n)
	}
}

// TestWebhookNeverBlocks: with every worker stuck on a receiver that does
// not answer, reporting commits stays a map update.
func TestWebhookNeverBlocks(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	w, _ := newTestWebhooks(t, func(int) int { return 204 }, gate)
	w.changed("app/stuck", 1)
	w.closed("app/stuck")
	time.Sleep(50 * time.Millisecond) // the only worker is now waiting on gate
	start := time.Now()
	for i := range 100_000 {
		w.changed(fmt.Sprintf("app/%d", i%1000), int64(i))
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("100,000 changes took %s with the workers stuck", took)
	}
}

// TestWebhooksIdleWithoutAny: on a server where no app has a webhook, a
// commit schedules nothing and looks nothing up.
func TestWebhooksIdleWithoutAny(t *testing.T) {
	cfg := DefaultConfig()
	f := &fakeHooks{none: true}
	w := newWebhooks(f, cfg, slog.New(slog.DiscardHandler), newMetrics(prometheus.NewRegistry()))
	defer w.stop()
	for v := range int64(100) {
		w.changed(fmt.Sprint("app/doc", v), v+1)
	}
	if n := w.pending(); n != 0 {
		t.Fatalf("%d documents scheduled with no webhook anywhere", n)
	}
}
