package collab

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"tandem/auth"
	"tandem/store"
)

// submit sequences one op: dedupe, transform over what landed since its
// base, validate, apply, and queue it for the next commit.
func (r *room) submit(q submitReq) {
	reject := func(err error) { q.from.done(r, q.id, 0, err) }
	if q.vouched {
		// From a relay node, which checked the role itself.
		if r.relaying() {
			reject(errNotOwner)
			return
		}
	} else if c, _ := q.from.via(); c != nil {
		m, ok := r.members[c]
		if !ok {
			reject(store.Errorf(store.CodeBadRequest, "join the document before sending ops"))
			return
		}
		if !m.role.CanEdit() {
			reject(store.Errorf(store.CodeForbidden, "a %s may not edit this document", m.role))
			return
		}
		q.from = m // this membership is the author
	} else if _, err := auth.AuthorizeGranted(r.hub.ctx, r.hub.store, r.id, q.user, q.grants, auth.NeedEdit); err != nil {
		// A program's role is read here, in the room, like a join's.
		reject(err)
		return
	}
	if r.draining {
		reject(ErrClosing)
		return
	}
	dup, err := r.seq.admit(q.user, q.id, q.base)
	if err != nil {
		reject(err)
		return
	}
	if dup > 0 {
		r.duplicate(q, dup)
		return
	}
	if r.relaying() {
		r.forward(q)
		return
	}
	if err := r.sequence(q, nil); err != nil {
		reject(err)
		return
	}
	r.startCommit()
}

// sequence transforms q's op over every op since its base, applies it and
// queues it for the next commit (startCommit starts it); a re-send is
// acknowledged instead. again is the op's earlier sequencing when a
// rollback sequences it anew: its other senders carry over.
func (r *room) sequence(q submitReq, again *pendingOp) error {
	since, err := r.history(q.base, r.seq.version)
	if errors.Is(err, errTooMuchHistory) {
		return store.Errorf(store.CodeBadRequest, "version %d is too far behind (too much changed since): rejoin", q.base)
	}
	if err != nil {
		return fmt.Errorf("read history: %w", err)
	}
	rec, dup, err := r.seq.place(q.user, q.id, q.base, q.op, since)
	if err != nil {
		return err
	}
	if dup > 0 {
		if again != nil {
			// Cannot happen: no two uncommitted ops share an id.
			return fmt.Errorf("op %q sequenced twice", q.id)
		}
		r.duplicate(q, dup)
		return nil
	}
	p := &pendingOp{rec: rec, q: q, received: q.received}
	if rec.Version%store.DefaultSnapshotEvery == 0 {
		// The store snapshots here: it gets the text rather than
		// reading the history back for it.
		text := r.seq.headText()
		p.after = &text
	}
	p.first[0] = q.from
	p.authors = p.first[:]
	if again != nil {
		p.authors = again.authors
	}
	r.pending = append(r.pending, p)
	return nil
}

// duplicate acknowledges a re-sent op with the version it already has: now
// if it is committed, or when its commit is.
func (r *room) duplicate(q submitReq, version int64) {
	if version <= r.seq.committed {
		q.from.done(r, q.id, version, nil)
		return
	}
	for _, p := range append(r.inflight, r.pending...) {
		if p.rec.Version == version {
			p.authors = append(p.authors, q.from)
			return
		}
	}
}

// history returns the ops after version `from` up to `to` (both at most
// version), from the window, reading older ones from the store.
func (r *room) history(from, to int64) ([]store.OpRecord, error) {
	if from >= to {
		return nil, nil
	}
	recent, start := r.seq.recent(from, to)
	if from+1 >= start {
		return recent, nil
	}
	// Older ops come from the store, a page at a time, and only up to a
	// budget: a few huge ops must not make the room read (and hold up its
	// document for) hundreds of megabytes.
	budget := historyBudget * r.hub.cfg.MaxDocBytes
	older := make([]store.OpRecord, 0, min(start-1-from, historyPage))
	for next := from + 1; next < start; {
		page, err := r.hub.store.Ops(r.hub.ctx, r.id, next, start-1, store.Page{Limit: historyPage, MaxBytes: budget})
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			break
		}
		for _, rec := range page {
			if budget -= rec.Op.Size(); budget < 0 {
				return nil, errTooMuchHistory
			}
		}
		older = append(older, page...)
		next = page[len(page)-1].Version + 1
	}
	if int64(len(older)) != start-1-from {
		return nil, fmt.Errorf("store returned %d ops for versions %d..%d", len(older), from+1, start-1)
	}
	return append(older, recent...), nil
}

var errTooMuchHistory = errors.New("too much history to read")

// History read from the store comes in pages of historyPage ops, and at most
// historyBudget times --max-doc-bytes of it: more than that is refused with
// errTooMuchHistory (an op is then too far behind; a catch-up gets the
// content instead).
const (
	historyPage   = 256
	historyBudget = 4
)

// startCommit writes the pending ops as one batch, if no commit is under way.
func (r *room) startCommit() {
	if r.inflight != nil || len(r.pending) == 0 {
		return
	}
	n := min(len(r.pending), r.hub.cfg.MaxBatch)
	r.inflight = r.pending[:n:n]
	r.pending = append([]*pendingOp(nil), r.pending[n:]...)
	batch := make([]store.NewOp, n)
	for i, p := range r.inflight {
		batch[i] = store.NewOp{ID: p.rec.ID, UserID: p.rec.UserID, Op: p.rec.Op, After: p.after}
	}
	head := r.seq.committed
	r.hub.metrics.batch.Observe(float64(n))
	r.commitGen++
	gen, lease := r.commitGen, r.lease
	go func() {
		start := time.Now()
		var err error
		if lease != nil {
			err = r.hub.cluster.Store.AppendOpsUnder(r.hub.ctx, *lease, head, batch)
		} else {
			err = r.hub.store.AppendOps(r.hub.ctx, r.id, head, batch)
		}
		r.hub.metrics.commitTime.Observe(time.Since(start).Seconds())
		select {
		case r.commits <- commitResult{gen: gen, err: err}:
		case <-r.done: // stopped: nobody waits for it (stepped down meanwhile)
		}
	}()
}

// committedBatch acknowledges the ops just committed, sends them to
// everyone else, moves presence over them and starts the next commit.
//
// Each member gets the batch's ops in one push (a big room commits tens
// of ops at once: one lock and one wake-up per member, not one per op per
// member), except that an op's author must have the ops before it before
// its ack: an author's share is pushed up to its op just before the ack.
func (r *room) committedBatch() error {
	now := time.Now()
	if err := r.seq.commit(r.inflight[len(r.inflight)-1].rec.Version); err != nil {
		return err
	}
	ops := r.batchOps[:0]
	clear(r.upTo)
	for i, p := range r.inflight {
		rec := p.rec
		r.pres.move(rec.Op, rec.UserID)
		// The author's memberships get the ack; everyone else, including a
		// later membership of the author's connection, gets the op.
		for _, a := range p.authors {
			if c, m := a.via(); c != nil && m != nil && r.members[c] == m {
				r.deliver(c, ops[r.upTo[c]:i])
				r.upTo[c] = i
			}
		}
		acked := r.tell(p.authors, rec.ID, rec.Version, nil, r.acked[:0]) // scratch reused: no allocation per op
		for _, c := range acked {
			r.upTo[c] = i + 1 // past its own op
		}
		r.acked = acked
		ops = append(ops, r.remote(rec, encode(opMsg{Type: "op", Doc: r.id, Version: rec.Version, ID: rec.ID, Op: rec.Op, User: rec.UserID})))
		r.hub.metrics.sequenced.Inc()
		r.hub.metrics.ackLatency.Observe(now.Sub(p.received).Seconds())
	}
	for c := range r.members {
		r.deliver(c, ops[r.upTo[c]:])
	}
	clear(ops)
	r.batchOps = ops[:0]
	r.hub.hooks.changed(r.id, r.seq.committed) // no I/O: the dispatcher does that (webhooks.go)
	r.inflight = nil
	r.startCommit()
	return nil
}

// deliver enqueues ops for member c; a member whose queue is full is
// dropped.
func (r *room) deliver(c subscriber, ops []queued) {
	if len(ops) == 0 {
		return
	}
	if !c.enqueueAll(ops) {
		r.drop(c)
	}
}

// remote is a committed op as the members who did not make it get it: one
// value for all of them, which compaction may compose with the next, and
// which carries the room's coalescing window.
func (r *room) remote(rec store.OpRecord, msg []byte) queued {
	return queued{msg: msg, op: &remoteOp{doc: r.id, from: rec.Version, to: rec.Version, op: rec.Op},
		linger: r.pace.note(time.Now(), len(r.members), &r.hub.cfg)}
}

// commitFailed handles a commit that stored nothing. An op id that its
// author had already used, longer ago than the room remembers, is the one
// failure a client can cause: that op is refused and the room goes on
// (rollBack). Anything else ends the room; it returns true then.
func (r *room) commitFailed(err error) bool {
	var dup *store.DuplicateError
	if errors.As(err, &dup) && r.rollBack(dup) {
		return false
	}
	if errors.Is(err, store.ErrFenced) {
		r.hub.metrics.fenced.Inc()
	}
	if r.lease != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrInvalid) {
		// Lost the lease, or the database (or it moved on: only another
		// owner could have): nothing of the batch is acknowledged here.
		// The room becomes a relay, keeping its sockets, and re-sends the
		// ops to whoever owns the document next (perhaps itself, once the
		// database is back), with their ids: one that was stored after
		// all is recognised there.
		r.hub.log.Warn("commit refused; stepping down", "doc", r.id, "err", err)
		r.stepDown()
		return false
	}
	r.fail(fmt.Errorf("commit: %w", err))
	return true
}

// rollBack answers a batch refused because it reuses the stored op id of
// dup: the op's author gets conflict, the room returns to its committed
// head, and every other op accepted since is sequenced again, from its own
// base, without it. None of them had been sent to anyone (acks and ops
// follow commits), so no client sees the difference. It returns false if
// the op is not in the batch.
func (r *room) rollBack(dup *store.DuplicateError) bool {
	key := opKey{dup.UserID, dup.OpID}
	i := slices.IndexFunc(r.inflight, func(p *pendingOp) bool { return opKey{p.rec.UserID, p.rec.ID} == key })
	if i < 0 {
		return false
	}
	r.hub.log.Warn("op id reused", "doc", r.id, "user", dup.UserID, "id", dup.OpID, "stored_version", dup.Version)
	bad := r.inflight[i]
	r.refuse(bad, reusedID(dup.OpID, dup.Version))
	r.seq.forbid(dup.UserID, dup.OpID, dup.Version)

	redo := append(slices.Delete(slices.Clone(r.inflight), i, i+1), r.pending...)
	r.seq.rollBack()
	r.inflight, r.pending = nil, nil
	for _, p := range redo {
		if err := r.sequence(p.q, p); err != nil {
			r.refuse(p, err)
		}
	}
	r.startCommit()
	return true
}

// refuse answers an accepted op that will not be committed: its authors
// get err.
func (r *room) refuse(p *pendingOp, err error) {
	r.acked = r.tell(p.authors, p.rec.ID, 0, err, r.acked[:0])
}
