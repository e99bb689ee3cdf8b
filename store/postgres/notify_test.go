package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"tandem/store"
	"tandem/store/postgres/pgtest"
)

// listening is a Listen running until the test ends, with what it heard.
type listening struct {
	events chan string
	gaps   chan struct{}
}

func startListening(t *testing.T, db *DB, channel string) *listening {
	t.Helper()
	l := &listening{events: make(chan string, 16), gaps: make(chan struct{}, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- db.Listen(ctx, channel, func(p string) { l.events <- p }, func() { l.gaps <- struct{}{} }, nil)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Listen returned %v once stopped, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Listen did not return once its context ended")
		}
	})
	l.gap(t, "the first LISTEN")
	return l
}

func (l *listening) gap(t *testing.T, what string) {
	t.Helper()
	select {
	case <-l.gaps:
	case <-time.After(10 * time.Second):
		t.Fatalf("no onGap after %s", what)
	}
}

func (l *listening) event(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-l.events:
		if got != want {
			t.Fatalf("heard %.40q, want %.40q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%.40q never heard", want)
	}
}

func openEmpty(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), pgtest.Empty(t), Config{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestNotifyListen: a notification reaches a listener on its channel, and
// none on another; the largest payload passes and a larger one is refused
// before it is sent.
func TestNotifyListen(t *testing.T) {
	db := openEmpty(t)
	ctx := context.Background()
	l := startListening(t, db, "tandem_test")
	other := startListening(t, db, "Tandem_Test") // names are case-sensitive

	for _, p := range []string{`{"kind":"members"}`, "", "héllo ✓", strings.Repeat("x", MaxNotifyPayload)} {
		if err := db.Notify(ctx, "tandem_test", p); err != nil {
			t.Fatalf("notify %.40q: %v", p, err)
		}
		l.event(t, p)
	}
	for _, tc := range []struct{ name, channel, payload string }{
		{"payload over the limit", "tandem_test", strings.Repeat("x", MaxNotifyPayload+1)},
		{"NUL in the payload", "tandem_test", "a\x00b"},
		{"no channel", "", "x"},
		{"channel too long", strings.Repeat("c", 64), "x"},
	} {
		if err := db.Notify(ctx, tc.channel, tc.payload); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: notify = %v, want ErrInvalid", tc.name, err)
		}
	}
	if err := db.Listen(ctx, "", func(string) {}, func() {}, nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("listen without a channel = %v, want ErrInvalid", err)
	}
	if err := db.Notify(ctx, "tandem_test", "last"); err != nil {
		t.Fatal(err)
	}
	l.event(t, "last") // nothing refused was sent
	select {
	case p := <-other.events:
		t.Errorf("another channel heard %.40q", p)
	default:
	}
}

// TestListenSurvivesLostConnection: when the listener's backend is
// terminated, it connects again, calls onGap, and hears what is sent after.
func TestListenSurvivesLostConnection(t *testing.T) {
	db := openEmpty(t)
	ctx := context.Background()
	l := startListening(t, db, "tandem_test")
	for i := range 2 {
		var pid int32
		err := db.pool.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`, ListenerName).Scan(&pid)
		if err != nil {
			t.Fatalf("find the listener: %v", err)
		}
		var ok bool
		if err := db.pool.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&ok); err != nil || !ok {
			t.Fatalf("terminate the listener: %v %v", ok, err)
		}
		l.gap(t, "its connection was killed")
		msg := "after kill " + string(rune('1'+i))
		if err := db.Notify(ctx, "tandem_test", msg); err != nil {
			t.Fatal(err)
		}
		l.event(t, msg)
	}
}

// TestListenQuiet: a quiet connection checks itself now and then, and goes
// on listening without a gap.
func TestListenQuiet(t *testing.T) {
	old := listenIdleCheck
	listenIdleCheck = 50 * time.Millisecond
	t.Cleanup(func() { listenIdleCheck = old }) // runs after the listener stops
	db := openEmpty(t)
	l := startListening(t, db, "tandem_test")
	time.Sleep(400 * time.Millisecond)
	if err := db.Notify(context.Background(), "tandem_test", "still here"); err != nil {
		t.Fatal(err)
	}
	l.event(t, "still here")
	select {
	case <-l.gaps:
		t.Error("a quiet connection was replaced")
	default:
	}
}
