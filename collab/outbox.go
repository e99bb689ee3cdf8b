package collab

import (
	"bytes"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"tandem/ot"
)

// maxFrameMsgs is how many queued messages a writer sends as one frame.
const maxFrameMsgs = 64

// keptQueue is the most room (in messages) an emptied outbox keeps for
// the next while its writer runs: a socket of a busy room then does not
// allocate its queue anew for each batch (4 KiB), while one that took a
// burst lets it go, and one that goes quiet lets it all go (release).
const keptQueue = 64

// outbox is a connection's queue of encoded messages for its writer. It
// holds no memory while empty, which is most of an idle socket's life: a
// channel of the same bound would keep its whole buffer for every socket.
//
// It is bounded. A client's outbox that is behind (over its limit, its
// oldest message waiting for --behind-after) is compacted rather than
// given up: consecutive remote ops of a document become one op
// (composed: its version jumps by more than one, protocol §5), and a
// session's presence is replaced by its latest. Acks, errors and the rest
// keep their place. A reader that is slow, but reads, then gets the
// document's changes in about the document's size, however far behind it
// is; only one that stops reading is closed (by the write timeout). A
// link's outbox (another node's copy of the document needs every op) is
// not compacted: full, it is given up.
type outbox struct {
	mu      sync.Mutex
	msgs    []queued
	limit   int
	compact bool // compact when full (client sockets), rather than refuse
	// compactAt is the length that sets off the next compaction: at
	// least limit, and twice what the last one left, so that a queue
	// that compaction cannot shrink (presence of many sessions) does not
	// cost a compaction per message.
	compactAt int
	// behindAfter is how long the oldest message must have waited before
	// the queue is compacted: a queue over its limit in a busy room whose
	// writer keeps up (its frames gather for tens of ms) is not behind.
	// Compacted ops cost a client with an edit in flight a history fetch
	// (protocol §5), which is the wrong moment to make many clients pay.
	behindAfter time.Duration
	plain       int           // messages queued that compaction cannot merge, but for acks (q.plain)
	maxPlain    int           // and at most this many of them (default: limit)
	ready       chan struct{} // holds a token while msgs may be non-empty
	window      atomic.Int64  // the coalescing window of the latest op queued (a time.Duration); 0 until one is
	lingering   bool          // the writer is gathering a frame (startLinger): wake it only for an ack or a full frame
	// held are the documents the client has an op in flight on: read
	// from it, its answer (ack or error) not yet taken by the writer. Their
	// ops are not composed, and a run composed before is sent as its
	// single ops if it still has them: a client with an edit in flight
	// that meets a composed op must fetch its single ops over REST
	// (protocol §5), and in a crowded room that is many fetches at once.
	held map[string]bool
	// singles counts the single ops' messages the queue's runs keep, at
	// most maxSingle in all.
	singles int
}

// queued is one message waiting, with what compaction needs to know.
type queued struct {
	msg []byte    // the encoded message; nil for a run until it is taken
	op  *remoteOp // a remote op (shared by every queue it is in): composed with the next if that follows it
	run *opRun    // ops of this queue's own, to go out as one composed op
	key string    // presence: its document and session; a later one with the same key replaces it
	at  int64     // when it was queued (monotonic ns, nowNano); a run's: its first op's
	// answers is the document of the op this message answers (an ack,
	// or an error about an op): taking it ends the document's hold.
	answers string
	// linger is the coalescing window of the op's room (pacer.go): the
	// outbox's writer gathers messages for this long once it is busy.
	linger time.Duration
}

// opRun is a run of consecutive remote ops of a document in one queue. The
// ops are composed in bulk, every runFold of them, and the run is encoded
// when the writer takes it: pushing an op onto a run is cheap for the room
// however long the run.
type opRun struct {
	doc      string
	from, to int64
	ops      []ot.Op
	// single are the run's ops as they were encoded, one message each,
	// while its outbox's runs keep at most maxSingle of them in all (nil
	// after, or if a part had none): a held document's run is sent as them.
	single [][]byte
}

// maxSingle is how many ops' messages an outbox's runs keep (references
// to the messages every member's queue shares, not copies).
const maxSingle = 512

// runFold is how many ops a run gathers before they are composed into one.
const runFold = 64

// fold composes the run's ops into one.
func (r *opRun) fold() error {
	if len(r.ops) < 2 {
		return nil
	}
	c, err := ot.Compose(r.ops[0], r.ops[1])
	for _, op := range r.ops[2:] {
		if err != nil {
			break
		}
		c, err = ot.Compose(c, op)
	}
	if err != nil {
		return err
	}
	r.ops = append(r.ops[:0], c)
	return nil
}

// plain reports whether q counts toward an outbox's maxPlain: a message
// compaction cannot merge, other than an ack. Acks answer ops the room
// accepted (within --ops-per-second and --ops-burst), so a burst of them,
// a committed batch's worth for one client, is not a flood; they are
// bounded by the outbox's hard limit and the write timeout like the rest.
func (q queued) plain() bool {
	return q.op == nil && q.run == nil && q.key == "" && !q.isAck()
}

// isAck reports whether q is an ack, which a lingering writer never holds.
func (q queued) isAck() bool { return bytes.HasPrefix(q.msg, ackPrefix) }

// span returns the versions a queued op stands for, and its document.
func (q queued) span() (doc string, from, to int64, ok bool) {
	switch {
	case q.run != nil:
		return q.run.doc, q.run.from, q.run.to, true
	case q.op != nil:
		return q.op.doc, q.op.from, q.op.to, true
	}
	return "", 0, 0, false
}

// remoteOp is an op of a document that others made, from version from to
// version to (more than one when composed).
type remoteOp struct {
	doc      string
	from, to int64
	op       ot.Op
}

// compactedLimit is how many times its limit a compacting outbox may hold
// after compaction (documents' ops and sessions' presence it could not
// merge) before the connection is given up.
const compactedLimit = 64

// newOutbox returns an outbox of limit messages. A compacting one (a
// client's) compacts once it is over limit and its oldest message has
// waited behindAfter (or it is half way to its hard limit).
func newOutbox(limit int, compact bool, behindAfter time.Duration) *outbox {
	return &outbox{limit: limit, compact: compact, compactAt: limit, behindAfter: behindAfter,
		maxPlain: limit, ready: make(chan struct{}, 1)}
}

// clockStart is the origin of nowNano.
var clockStart = time.Now()

// nowNano is a monotonic clock in ns, cheap to keep in every queued message.
func nowNano() int64 { return int64(time.Since(clockStart)) }

// behind reports whether the queue, over its limit, is behind at now: its
// oldest message has waited behindAfter, or it is half way to its hard
// limit. Only then is it compacted.
func (o *outbox) behind(now int64) bool {
	return len(o.msgs) > 0 && (now-o.msgs[0].at >= int64(o.behindAfter) || o.full())
}

// full reports whether the queue is half way to its hard limit: it is
// then compacted whatever its age and holds.
func (o *outbox) full() bool { return len(o.msgs) >= compactedLimit*o.limit/2 }

// push queues a message, and reports false when the outbox is full.
func (o *outbox) push(q queued) bool {
	q.at = nowNano()
	o.mu.Lock()
	ok, wake := o.pushLocked(q)
	o.mu.Unlock()
	if wake {
		o.signal()
	}
	return ok
}

// pushAll queues messages in order, under one lock and with one wake-up
// at most: a room's committed batch goes to each member at once. It
// reports false, and queues none of the rest, when the outbox is full.
func (o *outbox) pushAll(qs []queued) bool {
	o.mu.Lock()
	o.msgs = slices.Grow(o.msgs, len(qs)) // once, not doubling from empty
	ok, wake := true, false
	now := nowNano()
	for _, q := range qs {
		var w bool
		q.at = now
		if ok, w = o.pushLocked(q); !ok {
			break
		}
		wake = wake || w
	}
	o.mu.Unlock()
	if wake {
		o.signal()
	}
	return ok
}

// pushLocked is push with o.mu held: whether q was queued, and whether
// the writer should be woken for it.
func (o *outbox) pushLocked(q queued) (ok, wake bool) {
	if q.linger > 0 && o.window.Load() != int64(q.linger) {
		o.window.Store(int64(q.linger))
	}
	if o.compact && len(o.msgs) >= o.compactAt && o.behind(q.at) {
		o.compactLocked()
		o.compactAt = max(o.limit, 2*len(o.msgs))
	}
	if o.compact && len(o.msgs) >= o.limit && o.behind(q.at) && o.composeLocked(q, o.full()) {
		// Behind: the op joined the one queued before it.
		return true, false
	}
	hard := o.limit
	if o.compact {
		hard = compactedLimit * o.limit
	}
	plain := q.plain()
	if len(o.msgs) >= hard || (plain && o.plain >= o.maxPlain) {
		// Full of what cannot be merged (errors for a client that floods
		// and does not read them, say): given up.
		return false, false
	}
	if plain {
		o.plain++
	}
	o.msgs = append(o.msgs, q)
	// A lingering writer is woken only for what ends its wait: an ack, or
	// a frame's worth. Not for every message, which in a big room would
	// be a wake-up per op per socket.
	return true, !o.lingering || len(o.msgs) >= maxFrameMsgs || q.isAck()
}

// startLinger is called by a writer about to wait for more messages with
// have already taken: it reports false, and the writer should not wait, if
// what came meanwhile holds an ack or fills a frame. Until the next take,
// pushes wake the writer only for those.
func (o *outbox) startLinger(have int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	select {
	case <-o.ready: // the token of what came meanwhile: judged here
	default:
	}
	if have+len(o.msgs) >= maxFrameMsgs {
		return false
	}
	for _, q := range o.msgs {
		if q.isAck() {
			return false
		}
	}
	o.lingering = true
	return true
}

// compactLocked composes runs of consecutive remote ops of one document
// into one op, and drops every presence message that a later one for the
// same session replaces.
func (o *outbox) compactLocked() {
	last := make(map[string]int) // presence key → its latest index
	for i, q := range o.msgs {
		if q.key != "" {
			last[q.key] = i
		}
	}
	all := o.msgs
	full := o.full()
	o.msgs = o.msgs[:0]
	for i, q := range all {
		if q.key != "" && last[q.key] != i {
			continue // replaced by a later one
		}
		if !o.composeLocked(q, full) {
			o.msgs = append(o.msgs, q)
		}
	}
	clear(all[len(o.msgs):])
}

// composeLocked adds q, a remote op or run, to the last message queued if
// that is an op (or run) of the same document just before it, and the
// document is not held (unless full: the queue is half way to its hard
// limit); it reports whether it did.
func (o *outbox) composeLocked(q queued, full bool) bool {
	doc, from, to, ok := q.span()
	if !ok || len(o.msgs) == 0 {
		return false
	}
	prev := &o.msgs[len(o.msgs)-1]
	pdoc, pfrom, pto, ok := prev.span()
	if !ok || pdoc != doc || pto+1 != from {
		return false
	}
	if o.held[doc] && !full {
		return false // the client has an edit in flight on doc
	}
	kept := 0            // singles counted in o.singles that this merge takes in
	if prev.run == nil { // the op becomes a run of this queue's own
		prev.run = &opRun{doc: pdoc, from: pfrom, to: pto, ops: []ot.Op{prev.op.op}, single: [][]byte{prev.msg}}
		prev.op, prev.msg = nil, nil
	} else {
		kept = len(prev.run.single)
	}
	r := prev.run
	if q.run != nil {
		kept += len(q.run.single)
		r.ops = append(r.ops, q.run.ops...)
		r.keepSingle(q.run.single)
	} else {
		r.ops = append(r.ops, q.op.op)
		r.keepSingle([][]byte{q.msg})
	}
	if o.singles += len(r.single) - kept; o.singles > maxSingle {
		o.singles -= len(r.single)
		r.single = nil
	}
	r.to = to
	if len(r.ops) >= runFold && r.fold() != nil {
		return false // cannot happen for consecutive versions
	}
	return true
}

// keepSingle adds the messages of ops appended to the run, or lets the
// run's go if some are missing.
func (r *opRun) keepSingle(msgs [][]byte) {
	if r.single == nil {
		return
	}
	if len(msgs) == 0 || slices.ContainsFunc(msgs, func(m []byte) bool { return m == nil }) {
		r.single = nil
		return
	}
	r.single = append(r.single, msgs...)
}

// hold marks doc as having an op of the client's in flight.
func (o *outbox) hold(doc string) {
	o.mu.Lock()
	if o.held == nil {
		o.held = make(map[string]bool, 1)
	}
	o.held[doc] = true
	o.mu.Unlock()
}

// unhold ends doc's hold (the connection left it).
func (o *outbox) unhold(doc string) {
	o.mu.Lock()
	delete(o.held, doc)
	o.mu.Unlock()
}

// encodeRun composes and encodes a run as the writer takes it.
func encodeRun(r *opRun) []byte {
	if err := r.fold(); err != nil {
		// Consecutive versions always compose; should it ever fail, the
		// reader gets the first op only and will find itself out of step.
		r.ops = r.ops[:1]
		r.to = r.from
	}
	return encode(opMsg{Type: "op", Doc: r.doc, Version: r.to, From: r.from, Op: r.ops[0]})
}

// take moves queued messages, oldest first, onto batch until it holds max.
func (o *outbox) take(batch [][]byte, max int) [][]byte {
	o.mu.Lock()
	o.lingering = false
	n := min(len(o.msgs), max-len(batch))
	var toEncode []*opRun // encoded below, outside the lock, where batch has nil
	for _, q := range o.msgs[:n] {
		if q.run != nil {
			o.singles -= len(q.run.single)
		}
		switch {
		case q.run != nil && o.held[q.run.doc] && q.run.single != nil:
			batch = append(batch, q.run.single...) // an edit in flight: the single ops
		case q.run != nil:
			toEncode = append(toEncode, q.run)
			batch = append(batch, nil)
		default:
			batch = append(batch, q.msg)
		}
		if q.plain() {
			o.plain--
		}
		if q.answers != "" {
			delete(o.held, q.answers)
		}
	}
	rest := copy(o.msgs, o.msgs[n:])
	clear(o.msgs[rest:])
	o.msgs = o.msgs[:rest]
	if rest == 0 && cap(o.msgs) > keptQueue {
		o.msgs = nil // a burst is over: let its memory go
	}
	if rest < o.limit {
		o.compactAt = o.limit
	}
	o.mu.Unlock()
	if rest > 0 {
		o.signal()
	}
	if len(toEncode) > 0 {
		// The runs, composed and encoded on the writer's goroutine.
		k := 0
		for i := range batch {
			if batch[i] == nil {
				batch[i] = encodeRun(toEncode[k])
				k++
			}
		}
	}
	return batch
}

// lingerFor is how long the writer gathers messages for a frame once it is
// busy: the window of the room whose op came last, or def before any did.
func (o *outbox) lingerFor(def time.Duration) time.Duration {
	if w := o.window.Load(); w > 0 {
		return time.Duration(w)
	}
	return def
}

// release lets the queue's memory go if nothing waits, as its writer
// ends a run (the socket has gone quiet); it reports whether it was empty.
func (o *outbox) release() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.msgs) > 0 {
		return false
	}
	o.msgs = nil
	return true
}

// len is how many messages wait.
func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.msgs)
}

func (o *outbox) signal() {
	select {
	case o.ready <- struct{}{}:
	default:
	}
}
