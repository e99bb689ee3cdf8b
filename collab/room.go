package collab

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"tandem/auth"
	"tandem/store"
)

// errRoomClosed is returned by a send to a room that has stopped; the hub
// then finds or starts a fresh one.
var errRoomClosed = errors.New("room closed")

// room is one open document. Its goroutine owns every field below inbox and
// is the document's only writer: it transforms each op over what landed
// since the op's base, applies it, and group-commits. Everything it sends to
// clients (joined, acks, ops, presence) is at its committed version, so
// nobody sees an op before it is durable.
type room struct {
	id    string
	hub   *Hub
	inbox chan request
	done  chan struct{} // closed when the goroutine has stopped

	seq *sequencer // set once loaded

	pending  []*pendingOp // accepted, waiting for the next commit
	inflight []*pendingOp // in the commit under way
	commits  chan error   // the commit's result

	acked []subscriber // scratch for committedBatch: who got the ack of one op

	members  map[subscriber]*member
	pres     *presence // who is here and their selections
	draining bool
	idleFor  time.Duration

	refreshes    int // role refreshes asked for
	rolesApplied int // the latest refresh whose roles were applied
}

// member is one connection in the room.
type member struct {
	role     store.Role
	user     UserInfo
	joinedAt int // room.refreshes when it joined: older refreshes do not judge it
}

// pendingOp is an accepted op until it is committed and acknowledged.
type pendingOp struct {
	rec      store.OpRecord
	q        submitReq // the request as received, to sequence again after a rollback
	authors  []author  // who sent it: its author, and re-sends meanwhile
	received time.Time
}

func newRoom(h *Hub, id string) *room {
	return &room{
		id:      id,
		hub:     h,
		inbox:   make(chan request, 256),
		done:    make(chan struct{}),
		commits: make(chan error, 1),
		members: make(map[subscriber]*member),
		pres:    newPresence(id),
	}
}

func (r *room) run() {
	defer func() {
		close(r.done)
		// Whatever slipped into the inbox as it stopped is turned away too.
		r.refuseQueued(errRoomClosed)
	}()
	tick := time.NewTicker(r.hub.cfg.PresenceEvery)
	defer tick.Stop()
	if err := r.load(); err != nil {
		r.fail(err)
		return
	}
	for {
		select {
		case req := <-r.inbox:
			if req.handle(r) {
				return
			}
		case err := <-r.commits:
			if err != nil {
				if r.commitFailed(err) {
					return
				}
			} else if err := r.committedBatch(); err != nil {
				r.fail(err)
				return
			}
			if r.draining && len(r.pending) == 0 && r.inflight == nil {
				r.stop()
				return
			}
		case <-tick.C:
			r.flushPresence()
			if len(r.members) == 0 && r.inflight == nil && len(r.pending) == 0 {
				r.idleFor += r.hub.cfg.PresenceEvery
				if r.idleFor >= r.hub.cfg.IdleRoom {
					r.stop()
					return
				}
			} else {
				r.idleFor = 0
			}
		}
	}
}

// load reads the document's head from the store.
func (r *room) load() error {
	_, c, err := r.hub.store.Load(r.hub.ctx, r.id)
	if err != nil {
		return err
	}
	cfg := r.hub.cfg
	r.seq = newSequencer(c.Version, c.Text, seqLimits{
		MaxDocBytes: cfg.MaxDocBytes, WindowOps: cfg.WindowOps, WindowBytes: cfg.WindowBytes, MaxBehind: cfg.MaxBehind,
	})
	return nil
}

// stop ends the room cleanly (idle, or drained for shutdown): the hub
// forgets it first, so new requests go to a successor, and what is already
// queued is turned away to retry there.
func (r *room) stop() {
	for c := range r.members {
		c.forget(r.id)
	}
	r.hub.forget(r)
	r.refuseQueued(errRoomClosed)
}

// refuseQueued answers every request still in the inbox with err; on
// errRoomClosed the sender retries with the hub's current room for the
// document. Senders also watch done, for anything that arrives after this.
func (r *room) refuseQueued(err error) {
	for {
		select {
		case req := <-r.inbox:
			switch q := req.(type) {
			case joinReq:
				q.reply <- err
			case submitReq:
				q.from.gone(r, q.id, err)
			}
		default:
			return
		}
	}
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

// fail ends the room after an error it cannot recover from (a load or a
// commit that failed): nothing unacknowledged was promised, so every
// connection in it is closed to reconnect, and programs get the error.
func (r *room) fail(err error) {
	notFound := errors.Is(err, store.ErrNotFound)
	if !notFound {
		r.hub.log.Error("room failed", "doc", r.id, "err", err)
	}
	for _, p := range append(r.inflight, r.pending...) {
		for _, a := range p.authors {
			if c, _ := a.via(); c == nil { // connections are closed below
				a.done(r, p.rec.ID, 0, failErr(err))
			}
		}
	}
	for c := range r.members {
		if notFound {
			c.sendDocError(r.id, "", store.Errorf(store.CodeNotFound, "document %s no longer exists", r.id))
			c.forget(r.id)
		} else {
			c.kick(closeInternal, "document failed; reconnect")
		}
	}
	r.hub.forget(r)
	if notFound {
		r.refuseQueued(failErr(err))
	} else {
		r.refuseQueued(errRoomClosed) // a successor reloads from the store
	}
}

func failErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return store.Errorf(store.CodeNotFound, "no such document")
	}
	return store.Errorf(store.CodeUnavailable, "document unavailable; retry")
}

func (r *room) join(q joinReq) error {
	if r.draining {
		return ErrClosing
	}
	c := q.c
	user := c.userInfo()
	// The role is read here, in the room, so that no membership change
	// can fall between the check and the join.
	role, err := auth.Authorize(r.hub.ctx, r.hub.store, r.id, user.ID, auth.NeedRead)
	if err != nil {
		return err
	}
	if _, ok := r.members[c]; ok {
		return store.Errorf(store.CodeBadRequest, "already joined")
	}
	m := &member{role: role, user: user, joinedAt: r.refreshes}
	msg := joinedMsg{Type: "joined", Doc: r.id, Version: r.seq.committed, Role: role, Presence: r.pres.list(c.sessionID())}
	ops, ok := r.catchUp(q.version)
	if ok {
		msg.Ops = &ops
	} else {
		msg.Content = &r.seq.stable
	}
	if !c.remember(r) {
		return store.Errorf(store.CodeBadRequest, "at most %d documents per connection", r.hub.cfg.DocsPerConn)
	}
	if !c.send(encode(msg)) {
		c.forget(r.id)
		return store.Errorf(store.CodeUnavailable, "connection too slow")
	}
	r.members[c] = m
	r.pres.add(c.sessionID(), user) // the others learn who came
	return nil
}

// catchUp returns the ops a client at version needs to reach committed, or
// false if it should get the content instead (no version, or too far back).
func (r *room) catchUp(version int64) ([]opMsg, bool) {
	committed := r.seq.committed
	if version < 0 || version > committed || committed-version > int64(r.hub.cfg.WindowOps) {
		return nil, false
	}
	recs, err := r.history(version, committed)
	if err != nil {
		if !errors.Is(err, errTooMuchHistory) {
			r.hub.log.Warn("catch-up from the store failed; sending content", "doc", r.id, "err", err)
		}
		return nil, false
	}
	ops := make([]opMsg, len(recs))
	size := 0
	for i, rec := range recs {
		ops[i] = opMsg{Version: rec.Version, ID: rec.ID, Op: rec.Op, User: rec.UserID}
		if size += rec.Op.Size(); size > 2*r.hub.cfg.MaxDocBytes {
			return nil, false // the content is smaller than these ops
		}
	}
	return ops, true
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

// History read from the store comes in pages of historyPage ops, and at most
// historyBudget times --max-doc-bytes of it: more than that is refused with
// errTooMuchHistory (an op is then too far behind; a catch-up gets the
// content instead).
const (
	historyPage   = 256
	historyBudget = 4
)

var errTooMuchHistory = errors.New("too much history to read")

func (r *room) leave(c subscriber) {
	if _, ok := r.members[c]; !ok {
		return
	}
	c.forget(r.id)
	delete(r.members, c)
	r.pres.remove(c.sessionID()) // everyone else sees the cursor go, at the next flush
}

// submit sequences one op: dedupe, transform over what landed since its
// base, validate, apply, and queue it for the next commit.
func (r *room) submit(q submitReq) {
	reject := func(err error) { q.from.done(r, q.id, 0, err) }
	if c, _ := q.from.via(); c != nil {
		m, ok := r.members[c]
		if !ok {
			reject(store.Errorf(store.CodeBadRequest, "join the document before sending ops"))
			return
		}
		if !m.role.CanEdit() {
			reject(store.Errorf(store.CodeForbidden, "a %s may not edit this document", m.role))
			return
		}
		q.from = socketAuthor{c: c, m: m} // this membership is the author
	} else if _, err := auth.Authorize(r.hub.ctx, r.hub.store, r.id, q.user, auth.NeedEdit); err != nil {
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
	if err := r.sequence(q, nil); err != nil {
		reject(err)
		return
	}
	r.startCommit()
}

// sequence transforms q's op over every op since its base, applies it and
// queues it for the next commit (startCommit starts it); a re-send is
// acknowledged instead. again
// is the op's earlier sequencing when a rollback sequences it anew: its
// re-senders and waiting programs carry over.
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
	p := &pendingOp{rec: rec, q: q, authors: []author{q.from}, received: q.received}
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
		batch[i] = store.NewOp{ID: p.rec.ID, UserID: p.rec.UserID, Op: p.rec.Op}
	}
	head := r.seq.committed
	r.hub.metrics.batch.Observe(float64(n))
	go func() {
		r.commits <- r.hub.store.AppendOps(r.hub.ctx, r.id, head, batch)
	}()
}

// committedBatch acknowledges the ops just committed, sends them to
// everyone else, moves presence over them and starts the next commit.
func (r *room) committedBatch() error {
	now := time.Now()
	if err := r.seq.commit(r.inflight[len(r.inflight)-1].rec.Version); err != nil {
		return err
	}
	for _, p := range r.inflight {
		rec := p.rec
		r.pres.move(rec.Op, rec.UserID)
		// The author's memberships get the ack; everyone else, including a
		// later membership of the author's connection, gets the op.
		acked := r.tell(p.authors, rec.ID, rec.Version, nil, r.acked[:0]) // scratch reused: no allocation per op
		op := encode(opMsg{Type: "op", Doc: r.id, Version: rec.Version, ID: rec.ID, Op: rec.Op, User: rec.UserID})
		for c := range r.members {
			if !slices.Contains(acked, c) && !c.send(op) {
				r.drop(c)
			}
		}
		r.acked = acked
		r.hub.metrics.sequenced.Inc()
		r.hub.metrics.ackLatency.Observe(now.Sub(p.received).Seconds())
	}
	r.inflight = nil
	r.startCommit()
	return nil
}

// broadcast sends msg to every member but the one with session skip ("":
// everyone); members whose queue is full are dropped (they reconnect and
// catch up).
func (r *room) broadcast(msg []byte, skip string) {
	for c := range r.members {
		if c.sessionID() != skip && !c.send(msg) {
			r.drop(c)
		}
	}
}

// drop removes a member that cannot keep up; the others learn it left at
// the next presence flush (not now: drop runs inside broadcasts).
func (r *room) drop(c subscriber) {
	r.pres.remove(c.sessionID())
	c.forget(r.id)
	delete(r.members, c)
	r.hub.metrics.dropped.Inc()
}

func (r *room) presence(q presenceReq) {
	if _, ok := r.members[q.c]; !ok {
		q.c.sendDocError(r.id, "", store.Errorf(store.CodeBadRequest, "join the document before sending presence"))
		return
	}
	if q.version > r.seq.committed {
		q.c.sendDocError(r.id, "", store.Errorf(store.CodeBadRequest, "presence at version %d, but the document is at %d", q.version, r.seq.committed))
		return
	}
	if r.seq.version-q.version > int64(len(r.seq.window)) {
		// Older than the ops the room holds: presence never reads the
		// store. It is ephemeral, and the client's next one replaces it.
		return
	}
	var since []store.OpRecord
	if q.sel != nil {
		var err error
		if since, err = r.history(q.version, r.seq.committed); err != nil {
			q.c.sendDocError(r.id, "", fmt.Errorf("read history: %w", err))
			return
		}
	}
	r.pres.set(q.c.sessionID(), selectionAt(q.sel, since, r.seq.stable))
}

// flushPresence broadcasts who left and the latest presence of each member
// that came or moved since the last flush.
func (r *room) flushPresence() {
	for _, n := range r.pres.flush(r.seq.committed) {
		r.broadcast(n.msg, n.skip)
	}
}

// refresh checks every member's role again, after the document's members
// changed: a removed member is told and leaves, a changed role applies to
// the next op. The roles are read with one query, off the room's
// goroutine, which goes on sequencing meanwhile; they come back as a
// rolesReq.
func (r *room) refresh() {
	r.refreshes++
	n := r.refreshes
	go func() {
		members, err := r.hub.store.ListMembers(r.hub.ctx, r.id)
		r.post(rolesReq{n: n, members: members, err: err})
	}()
}

// applyRoles applies the roles read by refresh number q.n, to the members
// that were there when it was asked (a later joiner read its own role), and
// unless a later refresh was applied already.
func (r *room) applyRoles(q rolesReq) {
	if q.n <= r.rolesApplied {
		return
	}
	if q.err != nil && !errors.Is(q.err, store.ErrNotFound) {
		// The store failed, not the members: keep them and say so.
		r.hub.log.Warn("role refresh failed", "doc", r.id, "err", q.err)
		return
	}
	r.rolesApplied = q.n
	roles := make(map[string]store.Role, len(q.members)) // none if the document is gone
	for _, m := range q.members {
		roles[m.UserID] = m.Role
	}
	for c, m := range r.members {
		if m.joinedAt >= q.n {
			continue
		}
		role, ok := roles[c.userInfo().ID]
		if !ok || !role.Valid() {
			c.sendDocError(r.id, "", store.Errorf(store.CodeNotFound, "no document %s", r.id))
			r.leave(c)
			continue
		}
		if role != m.role {
			m.role = role
			c.send(encode(roleMsg{Type: "role", Doc: r.id, Role: role}))
		}
	}
}
