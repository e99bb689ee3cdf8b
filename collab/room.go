package collab

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"tandem/auth"
	"tandem/ot"
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
	inbox chan any
	done  chan struct{} // closed when the goroutine has stopped

	loaded    bool
	version   int64  // head, counting ops accepted but not yet committed
	text      string // the text at version
	committed int64  // head in the store
	stable    string // the text at committed: what joiners get

	// window holds the most recent ops, consecutive, ending at version;
	// windowBytes is their ot.Op.Size total.
	window      []store.OpRecord
	windowBytes int

	pending  []*pendingOp // accepted, waiting for the next commit
	inflight []*pendingOp // in the commit under way
	commits  chan error   // the commit's result

	ids map[opKey]int64 // (author, op id) → version, for the ops in window
	// reused holds op ids found already stored when a commit was refused
	// for them (older than the window), so that trying again is refused at
	// once. Bounded: cleared when it grows past maxReused.
	reused map[opKey]int64

	acked []*Conn // scratch for committedBatch: who got the ack of one op

	members  map[*Conn]*member
	dirty    map[*Conn]bool // presence to broadcast at the next flush
	gone     []PresenceInfo // dropped members, announced at the next flush
	draining bool
	idleFor  time.Duration
}

// sender is one membership of a connection in the room. The member pointer
// tells a membership from a later one of the same connection (after a leave
// and a rejoin), which must get the op rather than its ack.
type sender struct {
	c *Conn
	m *member
}

// current reports whether s is still the connection's membership.
func (r *room) current(s sender) bool { return s.c != nil && r.members[s.c] == s.m }

// opKey identifies an op as the store does: ids are unique per author.
type opKey struct{ user, id string }

// member is one connection in the room.
type member struct {
	role      store.Role
	user      UserInfo
	selection []ot.Range // at committed
}

// pendingOp is an accepted op until it is committed and acknowledged.
type pendingOp struct {
	rec      store.OpRecord
	q        submitReq           // the request as received, to sequence again after a rollback
	from     sender              // the author's membership; none for a program
	reply    chan submitResult   // a program's request, or nil
	also     []sender            // memberships that re-sent it meanwhile
	waiters  []chan submitResult // programs that re-sent it meanwhile
	received time.Time
}

// Requests to the room goroutine.
type (
	joinReq struct {
		c       *Conn
		version int64 // -1: send the content
		reply   chan error
	}
	leaveReq    struct{ c *Conn }
	presenceReq struct {
		c       *Conn
		version int64
		sel     []ot.Range
	}
	submitReq struct {
		c        *Conn // nil for a program
		user     string
		base     int64
		id       string
		op       ot.Op
		reply    chan submitResult // for a program
		received time.Time
	}
	submitResult struct {
		version int64
		err     error
	}
	refreshReq struct{}
	drainReq   struct{}
)

func newRoom(h *Hub, id string) *room {
	return &room{
		id:      id,
		hub:     h,
		inbox:   make(chan any, 256),
		done:    make(chan struct{}),
		commits: make(chan error, 1),
		ids:     make(map[opKey]int64),
		reused:  make(map[opKey]int64),
		members: make(map[*Conn]*member),
		dirty:   make(map[*Conn]bool),
	}
}

// send hands the room a request, waiting while its inbox is full (which
// slows only the sender), unless the room has stopped or ctx ends.
func (r *room) send(ctx context.Context, req any) error {
	select {
	case <-r.done: // first, so a stopped room is not fed while it has room
		return errRoomClosed
	default:
	}
	select {
	case r.inbox <- req:
		return nil
	case <-r.done:
		return errRoomClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// post is send without a caller's context.
func (r *room) post(req any) { _ = r.send(context.Background(), req) }

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
			if r.handle(req) {
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
	_, c, err := r.hub.store.Load(context.Background(), r.id)
	if err != nil {
		return err
	}
	r.version, r.committed = c.Version, c.Version
	r.text, r.stable = c.Text, c.Text
	r.loaded = true
	return nil
}

// handle serves one request; it returns true when the room has stopped.
func (r *room) handle(req any) bool {
	switch q := req.(type) {
	case joinReq:
		q.reply <- r.join(q)
	case leaveReq:
		r.leave(q.c)
	case submitReq:
		r.submit(q)
	case presenceReq:
		r.presence(q)
	case refreshReq:
		r.refresh()
	case func(*room):
		q(r) // run in the room's goroutine: for tests and diagnostics
	case drainReq:
		r.draining = true
		if r.inflight == nil && len(r.pending) == 0 {
			r.stop()
			return true
		}
	}
	return false
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
				if q.reply != nil {
					q.reply <- submitResult{err: err}
				} else {
					q.c.sendDocError(r.id, q.id, store.Errorf(store.CodeUnavailable, "document restarted: rejoin and re-send"))
				}
			}
		default:
			return
		}
	}
}

// maxReused bounds room.reused.
const maxReused = 1024

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
	if len(r.reused) >= maxReused {
		clear(r.reused)
	}
	r.reused[key] = dup.Version

	redo := append(slices.Delete(slices.Clone(r.inflight), i, i+1), r.pending...)
	uncommitted := int(r.version - r.committed)
	for _, rec := range r.window[len(r.window)-uncommitted:] {
		delete(r.ids, opKey{rec.UserID, rec.ID})
		r.windowBytes -= rec.Op.Size()
	}
	r.window = r.window[:len(r.window)-uncommitted]
	r.version, r.text = r.committed, r.stable
	r.inflight, r.pending = nil, nil
	for _, p := range redo {
		if err := r.sequence(p.q, p.from, p); err != nil {
			r.refuse(p, err)
		}
	}
	r.startCommit()
	return true
}

// reusedID is the refusal of an op whose author already used its id.
func reusedID(id string, version int64) error {
	return store.Errorf(store.CodeConflict, "op id %q was already used for version %d: ids must be new", id, version)
}

// refuse answers an accepted op that will not be committed: its author's
// memberships and programs waiting on it get err.
func (r *room) refuse(p *pendingOp, err error) {
	told := r.acked[:0] // scratch, as in committedBatch: each connection once
	for _, s := range append(p.also, p.from) {
		if r.current(s) && !slices.Contains(told, s.c) {
			told = append(told, s.c)
			s.c.sendDocError(r.id, p.rec.ID, err)
		}
	}
	r.acked = told
	for _, w := range append(p.waiters, p.reply) {
		if w != nil {
			w <- submitResult{err: err}
		}
	}
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
		for _, w := range append(p.waiters, p.reply) {
			if w != nil {
				w <- submitResult{err: failErr(err)}
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
	// The role is read here, in the room, so that no membership change
	// can fall between the check and the join.
	role, err := auth.Authorize(context.Background(), r.hub.store, r.id, c.user.ID, auth.NeedRead)
	if err != nil {
		return err
	}
	if _, ok := r.members[c]; ok {
		return store.Errorf(store.CodeBadRequest, "already joined")
	}
	m := &member{role: role, user: c.info}
	msg := joinedMsg{Type: "joined", Doc: r.id, Version: r.committed, Role: role, Presence: r.presenceList(c)}
	ops, ok := r.catchUp(q.version)
	if ok {
		msg.Ops = &ops
	} else {
		msg.Content = &r.stable
	}
	if !c.remember(r) {
		return store.Errorf(store.CodeBadRequest, "at most %d documents per connection", r.hub.cfg.DocsPerConn)
	}
	if !c.send(encode(msg)) {
		c.forget(r.id)
		return store.Errorf(store.CodeUnavailable, "connection too slow")
	}
	r.members[c] = m
	r.dirty[c] = true // the others learn who came
	return nil
}

// catchUp returns the ops a client at version needs to reach committed, or
// false if it should get the content instead (no version, or too far back).
func (r *room) catchUp(version int64) ([]opMsg, bool) {
	if version < 0 || version > r.committed || r.committed-version > int64(r.hub.cfg.WindowOps) {
		return nil, false
	}
	recs, err := r.history(version, r.committed)
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
	start := r.version - int64(len(r.window)) + 1 // first version in the window
	if from+1 >= start {
		return r.window[from+1-start : to-start+1], nil
	}
	// Older ops come from the store, a page at a time, and only up to a
	// budget: a few huge ops must not make the room read (and hold up its
	// document for) hundreds of megabytes.
	budget := historyBudget * r.hub.cfg.MaxDocBytes
	older := make([]store.OpRecord, 0, min(start-1-from, historyPage))
	for next := from + 1; next < start; {
		page, err := r.hub.store.Ops(context.Background(), r.id, next, start-1, store.Page{Limit: historyPage, MaxBytes: budget})
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
	return append(older, r.window[:to-start+1]...), nil
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

func (r *room) leave(c *Conn) {
	m, ok := r.members[c]
	if !ok {
		return
	}
	c.forget(r.id)
	delete(r.members, c)
	delete(r.dirty, c)
	// Everyone else sees the cursor go, at the next flush.
	r.gone = append(r.gone, PresenceInfo{Session: c.session, User: m.user})
}

// submit sequences one op: dedupe, transform over what landed since its
// base, validate, apply, and queue it for the next commit.
func (r *room) submit(q submitReq) {
	reject := func(err error) {
		if q.reply != nil {
			q.reply <- submitResult{err: err}
		} else {
			q.c.sendDocError(r.id, q.id, err)
		}
	}
	if q.c != nil {
		m, ok := r.members[q.c]
		if !ok {
			reject(store.Errorf(store.CodeBadRequest, "join the document before sending ops"))
			return
		}
		if !m.role.CanEdit() {
			reject(store.Errorf(store.CodeForbidden, "a %s may not edit this document", m.role))
			return
		}
	} else if _, err := auth.Authorize(context.Background(), r.hub.store, r.id, q.user, auth.NeedEdit); err != nil {
		// A program's role is read here, in the room, like a join's.
		reject(err)
		return
	}
	if r.draining {
		reject(ErrClosing)
		return
	}
	if q.base > r.committed {
		// A client only ever knows committed versions.
		reject(store.Errorf(store.CodeBadRequest, "version %d is ahead of the document (%d)", q.base, r.committed))
		return
	}
	key := opKey{q.user, q.id}
	if v, ok := r.ids[key]; ok {
		if v <= q.base {
			reject(reusedID(q.id, v))
			return
		}
		// A re-send of an op the room holds, perhaps not yet committed: it
		// is acknowledged whatever its base, before that base is judged too
		// old, so that a client never has to send it again as a new op.
		r.duplicate(q, v)
		return
	}
	if v, ok := r.reused[key]; ok && v <= q.base {
		reject(reusedID(q.id, v))
		return
	}
	if r.version-q.base > int64(r.hub.cfg.MaxBehind) {
		reject(store.Errorf(store.CodeBadRequest, "version %d is too far behind (head %d): rejoin", q.base, r.version))
		return
	}
	if err := r.sequence(q, sender{q.c, r.members[q.c]}, nil); err != nil {
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
func (r *room) sequence(q submitReq, from sender, again *pendingOp) error {
	since, err := r.history(q.base, r.version)
	if errors.Is(err, errTooMuchHistory) {
		return store.Errorf(store.CodeBadRequest, "version %d is too far behind (too much changed since): rejoin", q.base)
	}
	if err != nil {
		return fmt.Errorf("read history: %w", err)
	}
	// A re-sent op was sequenced after its base: it is among these.
	for _, rec := range since {
		if rec.ID == q.id && rec.UserID == q.user {
			if again != nil {
				// Cannot happen: no two uncommitted ops share an id.
				return fmt.Errorf("op %q sequenced twice", q.id)
			}
			r.duplicate(q, rec.Version)
			return nil
		}
	}
	op := q.op
	for _, rec := range since {
		if _, op, err = ot.Transform(rec.Op, op); err != nil {
			return store.Errorf(store.CodeInvalidOp, "operation does not fit version %d of the document: %v", q.base, err)
		}
	}
	text, err := ot.Apply(r.text, op)
	if err != nil {
		return store.Errorf(store.CodeInvalidOp, "operation does not fit version %d of the document: %v", q.base, err)
	}
	if len(text) > r.hub.cfg.MaxDocBytes {
		return store.Errorf(store.CodeTooLarge, "the document would exceed %d bytes", r.hub.cfg.MaxDocBytes)
	}
	r.version++
	r.text = text
	rec := store.OpRecord{Version: r.version, ID: q.id, UserID: q.user, Op: op}
	r.window = append(r.window, rec)
	r.windowBytes += rec.Op.Size()
	r.ids[opKey{rec.UserID, rec.ID}] = rec.Version
	r.trimWindow()
	p := &pendingOp{rec: rec, q: q, from: from, reply: q.reply, received: q.received}
	if again != nil {
		p.also, p.waiters, p.reply = again.also, again.waiters, again.reply
	}
	r.pending = append(r.pending, p)
	return nil
}

// duplicate acknowledges a re-sent op with the version it already has: now
// if it is committed, or when its commit is.
func (r *room) duplicate(q submitReq, version int64) {
	if version <= r.committed {
		if q.reply != nil {
			q.reply <- submitResult{version: version}
		} else {
			q.c.send(encode(ackMsg{Type: "ack", Doc: r.id, ID: q.id, Version: version}))
		}
		return
	}
	for _, p := range append(r.inflight, r.pending...) {
		if p.rec.Version == version {
			if q.reply != nil {
				p.waiters = append(p.waiters, q.reply)
			} else {
				p.also = append(p.also, sender{q.c, r.members[q.c]})
			}
			return
		}
	}
}

// trimWindow drops the oldest committed ops once the window holds twice
// its size in ops (copying it once per WindowOps ops rather than on every
// op), or more than WindowBytes: then down to half that, so that a few huge
// ops cannot make a room big.
func (r *room) trimWindow() {
	overBytes := r.windowBytes > r.hub.cfg.WindowBytes
	if len(r.window) < 2*r.hub.cfg.WindowOps && !overBytes {
		return
	}
	committedInWindow := len(r.window) - int(r.version-r.committed)
	drop := len(r.window) - r.hub.cfg.WindowOps
	if overBytes {
		bytes := r.windowBytes
		n := 0
		for n < len(r.window) && bytes > r.hub.cfg.WindowBytes/2 {
			bytes -= r.window[n].Op.Size()
			n++
		}
		drop = max(drop, n)
	}
	if drop = min(drop, committedInWindow); drop > 0 {
		for _, rec := range r.window[:drop] {
			delete(r.ids, opKey{rec.UserID, rec.ID})
			r.windowBytes -= rec.Op.Size()
		}
		r.window = append([]store.OpRecord(nil), r.window[drop:]...)
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
	head := r.committed
	r.hub.metrics.batch.Observe(float64(n))
	go func() {
		r.commits <- r.hub.store.AppendOps(context.Background(), r.id, head, batch)
	}()
}

// committedBatch acknowledges the ops just committed, sends them to
// everyone else, moves presence over them and starts the next commit.
func (r *room) committedBatch() error {
	now := time.Now()
	last := r.inflight[len(r.inflight)-1].rec.Version
	for _, p := range r.inflight {
		rec := p.rec
		r.committed = rec.Version
		if last != r.version {
			// More ops are queued behind these: bring the stable text along.
			stable, err := ot.Apply(r.stable, rec.Op)
			if err != nil {
				return fmt.Errorf("version %d does not apply to the committed text: %w", rec.Version, err)
			}
			r.stable = stable
		}
		for _, m := range r.members {
			if m.selection != nil {
				m.selection = ot.TransformRanges(m.selection, rec.Op, m.user.ID == rec.UserID)
			}
		}
		// The author's memberships get the ack; everyone else, including a
		// later membership of the author's connection, gets the op.
		ack := encode(ackMsg{Type: "ack", Doc: r.id, ID: rec.ID, Version: rec.Version})
		acked := r.acked[:0] // reused: no allocation per op on the hot path
		for _, s := range append(p.also, p.from) {
			if r.current(s) && !slices.Contains(acked, s.c) {
				acked = append(acked, s.c)
				if !s.c.send(ack) {
					r.drop(s.c)
				}
			}
		}
		for _, w := range append(p.waiters, p.reply) {
			if w != nil {
				w <- submitResult{version: rec.Version}
			}
		}
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
	if last == r.version {
		r.stable = r.text
	}
	r.inflight = nil
	r.trimWindow()
	r.startCommit()
	return nil
}

// broadcast sends msg to every member but skip (nil: everyone); members
// whose queue is full are dropped (they reconnect and catch up).
func (r *room) broadcast(msg []byte, skip *Conn) {
	for c := range r.members {
		if c != skip && !c.send(msg) {
			r.drop(c)
		}
	}
}

// drop removes a member that cannot keep up; the others learn it left at
// the next presence flush (not now: drop runs inside broadcasts).
func (r *room) drop(c *Conn) {
	if m, ok := r.members[c]; ok {
		r.gone = append(r.gone, PresenceInfo{Session: c.session, User: m.user})
	}
	c.forget(r.id)
	delete(r.members, c)
	delete(r.dirty, c)
	r.hub.metrics.dropped.Inc()
}

func (r *room) presence(q presenceReq) {
	m, ok := r.members[q.c]
	if !ok {
		q.c.sendDocError(r.id, "", store.Errorf(store.CodeBadRequest, "join the document before sending presence"))
		return
	}
	if q.version > r.committed {
		q.c.sendDocError(r.id, "", store.Errorf(store.CodeBadRequest, "presence at version %d, but the document is at %d", q.version, r.committed))
		return
	}
	if r.version-q.version > int64(len(r.window)) {
		// Older than the ops the room holds: presence never reads the
		// store. It is ephemeral, and the client's next one replaces it.
		return
	}
	sel := q.sel
	if sel != nil {
		since, err := r.history(q.version, r.committed)
		if err != nil {
			q.c.sendDocError(r.id, "", fmt.Errorf("read history: %w", err))
			return
		}
		for _, rec := range since {
			sel = ot.TransformRanges(sel, rec.Op, false)
		}
		n := utf8.RuneCountInString(r.stable)
		for i := range sel {
			sel[i] = ot.Range{Anchor: min(sel[i].Anchor, n), Head: min(sel[i].Head, n)}
		}
		if sel == nil {
			sel = []ot.Range{}
		}
	}
	m.selection = sel
	r.dirty[q.c] = true
}

// flushPresence broadcasts the latest presence of each member that moved
// since the last flush: a burst of cursor moves costs one message.
func (r *room) flushPresence() {
	gone := r.gone
	r.gone = nil
	for _, p := range gone {
		r.broadcast(encode(presenceMsg{Type: "presence", Doc: r.id, Version: r.committed, Left: true, PresenceInfo: p}), nil)
	}
	for c := range r.dirty {
		m, ok := r.members[c]
		if !ok {
			continue
		}
		r.broadcast(encode(presenceMsg{Type: "presence", Doc: r.id, Version: r.committed,
			PresenceInfo: PresenceInfo{Session: c.session, User: m.user, Selection: m.selection}}), c)
	}
	clear(r.dirty)
}

// presenceList is everyone's presence but c's, for joined.
func (r *room) presenceList(c *Conn) []PresenceInfo {
	out := []PresenceInfo{}
	for other, m := range r.members {
		if other != c {
			out = append(out, PresenceInfo{Session: other.session, User: m.user, Selection: m.selection})
		}
	}
	return out
}

// refresh checks every member's role again, after the document's members
// changed: a removed member is told and leaves, a changed role applies to
// the next op.
func (r *room) refresh() {
	for c, m := range r.members {
		role, err := auth.Authorize(context.Background(), r.hub.store, r.id, c.user.ID, auth.NeedRead)
		if code, _ := store.ErrorCode(err); err != nil && code != store.CodeNotFound && code != store.CodeForbidden {
			// The store failed, not the member: keep them and say so.
			r.hub.log.Warn("role refresh failed", "doc", r.id, "user", c.user.ID, "err", err)
			continue
		}
		if err != nil {
			c.sendDocError(r.id, "", err)
			r.leave(c)
			continue
		}
		if role != m.role {
			m.role = role
			c.send(encode(roleMsg{Type: "role", Doc: r.id, Role: role}))
		}
	}
}
