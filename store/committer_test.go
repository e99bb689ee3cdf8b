package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

type testReq struct {
	n    int
	done chan error
}

// TestCommitter: requests are committed in groups, each answered once; and
// requests handed over while the committer closes are answered or refused,
// never left waiting.
func TestCommitter(t *testing.T) {
	var mu sync.Mutex
	var groups [][]int
	c := NewCommitter(4, func(group []testReq) {
		ns := make([]int, len(group))
		for i, r := range group {
			ns[i] = r.n
		}
		mu.Lock()
		groups = append(groups, ns)
		mu.Unlock()
		for _, r := range group {
			r.done <- nil
		}
		time.Sleep(time.Millisecond) // let requests pile up
	})
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			r := testReq{n: i, done: make(chan error, 1)}
			if err := c.Do(context.Background(), r, r.done); err != nil {
				t.Errorf("request %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	seen := 0
	for _, g := range groups {
		if len(g) > 4 {
			t.Errorf("group of %d, over the max of 4", len(g))
		}
		seen += len(g)
	}
	if seen != 40 || len(groups) == 40 {
		t.Errorf("%d requests in %d groups: want 40, grouped", seen, len(groups))
	}

	// Racing Close: every Do returns.
	for range 20 {
		c := NewCommitter(4, func(group []testReq) {
			for _, r := range group {
				r.done <- nil
			}
		})
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				r := testReq{done: make(chan error, 1)}
				if err := c.Do(context.Background(), r, r.done); err != nil && !errors.Is(err, ErrClosed) {
					t.Errorf("Do: %v", err)
				}
			})
		}
		c.Close()
		finished := make(chan struct{})
		go func() { wg.Wait(); close(finished) }()
		select {
		case <-finished:
		case <-time.After(5 * time.Second):
			t.Fatal("a request handed over as the committer closed was never answered")
		}
		c.Close() // twice is fine
	}
}
