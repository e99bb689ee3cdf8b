package collab

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tandem/ot"
	"tandem/store"
)

func TestPacerWindow(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Coalesce, cfg.CoalesceMax, cfg.RoomFrames = 3*time.Millisecond, 50*time.Millisecond, 20000
	// rate sends ops at perSecond to members for a second and returns
	// the window the room ends with.
	rate := func(members, perSecond int) time.Duration {
		var p pacer
		start := time.Unix(1000, 0)
		var w time.Duration
		for i := range perSecond {
			w = p.note(start.Add(time.Duration(i)*time.Second/time.Duration(perSecond)), members, &cfg)
		}
		return w
	}
	for _, c := range []struct {
		members, perSecond int
		want               time.Duration
	}{
		{10, 50, 3 * time.Millisecond},       // a typing room: 500 messages/s
		{100, 200, 3 * time.Millisecond},     // 20,000/s: within the budget
		{300, 300, 15 * time.Millisecond},    // 90,000/s: 300 / 20,000 s
		{1000, 1000, 50 * time.Millisecond},  // 1,000,000/s: 1,000 / 20,000 s
		{5000, 5000, 50 * time.Millisecond},  // capped at --coalesce-max
		{1000, 4, 3 * time.Millisecond},      // big but quiet: 4,000/s
		{64, 20000, 3200 * time.Microsecond}, // a closed loop of 64
	} {
		if got := rate(c.members, c.perSecond); got != c.want {
			t.Errorf("%d members, %d ops/s: window %v, want %v", c.members, c.perSecond, got, c.want)
		}
	}
	off := cfg
	off.Coalesce = 0
	var p pacer
	if w := p.note(time.Now(), 1000, &off); w != 0 {
		t.Errorf("coalescing off: window %v", w)
	}
}

// TestAdaptiveCoalescing: in a room over its frame budget, a reader gets the
// stream in few, full frames, while the author's acks are not held: a
// closed-loop writer (one op in flight) runs at the commit's pace, not one
// op per window.
func TestAdaptiveCoalescing(t *testing.T) {
	cfg := testEngine()
	cfg.Coalesce, cfg.CoalesceMax = 2*time.Millisecond, 250*time.Millisecond
	cfg.RoomFrames = 20 // 4 members × a few ops/s is over it: the window is 4 / 20 s = 200 ms
	cfg.OpsPerSecond, cfg.OpsBurst = 100000, 100000
	env := newEnv(t, "sqlite", cfg)
	owner := env.signup("owner@example.com")
	doc := owner.createDoc("")
	var readers []*rawReader
	for i := range 3 {
		u := env.signup(fmt.Sprintf("reader%d@example.com", i))
		owner.share(doc, u, store.RoleViewer)
		r := u.dialRaw()
		defer r.ws.CloseNow()
		if err := r.ws.Write(context.Background(), websocket.MessageText, []byte(`{"type":"join","doc":"`+doc+`"}`)); err != nil {
			t.Fatal(err)
		}
		readers = append(readers, r)
	}
	frames := make(chan [2]int, len(readers)) // per reader: frames and ops read
	const ops = 300
	for _, r := range readers {
		go func() {
			n, got := 0, 0
			for got < ops {
				batch, _, err := r.frame(20 * time.Second)
				if err != nil {
					break
				}
				n++
				for _, m := range batch {
					if m["type"] == "op" {
						got++
					}
				}
			}
			frames <- [2]int{n, got}
		}()
	}

	w := owner.dial()
	defer w.close()
	w.join(doc, -1)
	start := time.Now()
	for v := range int64(ops) {
		w.send(map[string]any{"type": "op", "doc": doc, "version": v, "id": fmt.Sprint("op", v), "op": ot.Insertion(int(v), int(v), "x")})
		if ack := w.next("ack", "error"); ack["type"] != "ack" {
			t.Fatalf("op %d: %v", v, ack)
		}
	}
	elapsed := time.Since(start)
	// Were acks held for the 200 ms window, 300 ops would take a minute.
	if elapsed > 20*time.Second {
		t.Errorf("%d closed-loop ops took %v: acks waited for the coalescing window", ops, elapsed)
	}
	for range readers {
		f := <-frames
		if f[1] != ops {
			t.Fatalf("a reader got %d of %d ops", f[1], ops)
		}
		// 300 ops at the commit's pace (several hundred a second) in
		// frames at least 200 ms apart, once the window has grown.
		if f[0] > ops/4 {
			t.Errorf("a reader got %d ops in %d frames: not coalesced", f[1], f[0])
		}
		t.Logf("reader: %d ops in %d frames; writer %d ops in %v", f[1], f[0], ops, elapsed)
	}
}
