package auth

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"tandem/store"
)

// tokenUses records when API tokens were last used, off the request path.
//
// Recording a use in the lookup itself made every bearer request a write
// (on SQLite, through the one writer connection), and made a store that
// cannot write refuse every token. Instead a request notes the use in a map
// (one entry per token, the latest time), and a goroutine writes the map
// every few seconds in one statement. It is best effort: a failed flush
// keeps its entries for the next one, and is logged once per failure
// streak, not per flush. Close writes what is left.
type tokenUses struct {
	store store.Tokens
	log   *slog.Logger
	every time.Duration

	mu       sync.Mutex
	pending  map[string]time.Time // noted since the last flush began
	flushing map[string]time.Time // being written now
	failing  bool                 // the last flush failed (guarded by the flusher alone)

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// newTokenUses starts a recorder that flushes every period.
func newTokenUses(st store.Tokens, log *slog.Logger, every time.Duration) *tokenUses {
	u := &tokenUses{
		store: st, log: log, every: every,
		pending: map[string]time.Time{},
		stop:    make(chan struct{}), done: make(chan struct{}),
	}
	go u.run()
	return u
}

// note records that token id was used at.
func (u *tokenUses) note(id string, at time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if prev, ok := u.pending[id]; !ok || at.After(prev) {
		u.pending[id] = at
	}
}

// latest returns the last use of token id noted but perhaps not yet
// written, so that a listing on this node is up to date.
func (u *tokenUses) latest(id string) (time.Time, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	at, ok := u.pending[id]
	if f, fok := u.flushing[id]; fok && (!ok || f.After(at)) {
		at, ok = f, true
	}
	return at, ok
}

func (u *tokenUses) run() {
	defer close(u.done)
	tick := time.NewTicker(u.every)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), u.every)
			u.flush(ctx)
			cancel()
		case <-u.stop:
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			u.flush(ctx)
			cancel()
			return
		}
	}
}

// flush writes the pending uses in one statement.
func (u *tokenUses) flush(ctx context.Context) {
	u.mu.Lock()
	if len(u.pending) == 0 {
		u.mu.Unlock()
		return
	}
	batch := u.pending
	u.pending, u.flushing = map[string]time.Time{}, batch
	u.mu.Unlock()

	err := u.store.RecordTokenUses(ctx, batch)

	u.mu.Lock()
	u.flushing = nil
	if err != nil {
		// Keep them for the next flush; uses noted since are newer.
		for id, at := range batch {
			if _, newer := u.pending[id]; !newer {
				u.pending[id] = at
			}
		}
	}
	u.mu.Unlock()
	switch {
	case err != nil && !u.failing:
		u.failing = true
		u.log.Warn("cannot record API token use; retrying", "tokens", len(batch), "err", err)
	case err == nil && u.failing:
		u.failing = false
		u.log.Info("recording API token use again", "tokens", len(batch))
	}
}

// close stops the recorder after a last flush.
func (u *tokenUses) close() {
	u.closeOnce.Do(func() { close(u.stop) })
	<-u.done
}
