package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"tandem/store"
	"tandem/store/httpapi"
)

// readiness answers /readyz: 200 while the node can do its work, which is
// to commit edits, else 503 "unavailable".
//
// A ping is not enough: a full disk (SQLite) or a read-only database
// (Postgres after a bad failover) answers pings and reads while every
// commit fails. So readiness also needs the store's latest commit outcome:
// the hub's appends report theirs (watchCommits), and when none is recent
// (an idle node, or one the load balancer has taken out of rotation) the
// check makes a tiny durable write of its own (the store's CheckWrite),
// whose outcome counts as a commit's. Under load no extra write is made;
// idle, at most one per freshness window.
//
// A failing probe is logged on transitions only (ready to not ready and
// back), not on every poll.
type readiness struct {
	log        *slog.Logger
	ping       func(context.Context) error
	schema     func(context.Context) error
	checkWrite func(context.Context) error
	fresh      time.Duration // how long a commit outcome stands for the next one
	now        func() time.Time

	mu       sync.Mutex
	commitAt time.Time // when the latest commit outcome was seen
	commitOK error     // and what it was: nil if it committed
	notReady bool      // the last answer was 503 (for logging transitions)
}

// observe records a commit's outcome. Errors that are answers about the
// data (a conflict, a duplicate, a missing document, an invalid batch) or
// about the caller (a cancelled context, a closing store) say nothing about
// whether the store can commit, and are ignored.
func (rd *readiness) observe(err error) {
	if err != nil && !storeFailure(err) {
		return
	}
	rd.mu.Lock()
	defer rd.mu.Unlock()
	rd.commitAt, rd.commitOK = rd.now(), err
}

// storeFailure reports whether err, from a write, means the store cannot
// commit.
func storeFailure(err error) bool {
	for _, answer := range []error{store.ErrConflict, store.ErrDuplicate, store.ErrNotFound, store.ErrInvalid,
		store.ErrClosed, context.Canceled} {
		if errors.Is(err, answer) {
			return false
		}
	}
	return true
}

// check returns nil if the node is ready, else what a client may see and
// the cause.
func (rd *readiness) check(ctx context.Context) (*store.Error, error) {
	if err := rd.ping(ctx); err != nil {
		// Nor can it commit: this outcome stands for the next polls as a
		// failed commit would, so that one good round trip on a fresh
		// connection does not flip readiness back while it is stale.
		rd.observe(err)
		return store.Errorf(store.CodeUnavailable, "store unreachable"), err
	}
	if err := rd.schema(ctx); err != nil {
		return store.Errorf(store.CodeUnavailable, "database schema is not current"), err
	}
	rd.mu.Lock()
	at, err := rd.commitAt, rd.commitOK
	rd.mu.Unlock()
	if at.IsZero() || rd.now().Sub(at) >= rd.fresh {
		err = rd.checkWrite(ctx)
		rd.observe(err)
	}
	if err != nil {
		return store.Errorf(store.CodeUnavailable, "store cannot commit"), err
	}
	return nil, nil
}

func (rd *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	public, cause := rd.check(ctx)
	rd.mu.Lock()
	was := rd.notReady
	rd.notReady = public != nil
	rd.mu.Unlock()
	switch {
	case public != nil && !was:
		rd.log.Warn("not ready", "reason", public.Message, "err", cause)
	case public == nil && was:
		rd.log.Info("ready again")
	}
	if public != nil {
		w.Header().Set("Retry-After", strconv.Itoa(httpapi.RetryAfterUnavailable))
		httpapi.WriteJSON(w, http.StatusServiceUnavailable, httpapi.ErrorBody{Code: public.Code, Message: public.Message})
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// watchCommits is the store as the hub sees it: every append's outcome is
// reported to readiness.
type watchCommits struct {
	store.Store
	ready *readiness
}

func (w watchCommits) AppendOps(ctx context.Context, docID string, head int64, ops []store.NewOp) error {
	err := w.Store.AppendOps(ctx, docID, head, ops)
	w.ready.observe(err)
	return err
}
