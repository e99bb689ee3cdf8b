package collab

import (
	"sync"

	"tandem/ot"
)

// maxFrameMsgs is how many queued messages a writer sends as one frame.
const maxFrameMsgs = 64

// outbox is a connection's queue of encoded messages for its writer. It
// holds no memory while empty, which is most of an idle socket's life: a
// channel of the same bound would keep its whole buffer for every socket.
//
// It is bounded. A client's outbox that reaches its limit is compacted
// rather than given up: consecutive remote ops of a document become one op
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
	plain     int           // messages queued that compaction cannot merge
	ready     chan struct{} // holds a token while msgs may be non-empty
}

// queued is one message waiting, with what compaction needs to know.
type queued struct {
	msg []byte    // the encoded message
	op  *remoteOp // a remote op: composed with the next if that follows it
	key string    // presence: its document and session; a later one with the same key replaces it
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

func newOutbox(limit int, compact bool) *outbox {
	return &outbox{limit: limit, compact: compact, compactAt: limit, ready: make(chan struct{}, 1)}
}

// push queues a message, and reports false when the outbox is full.
func (o *outbox) push(q queued) bool {
	o.mu.Lock()
	if o.compact && len(o.msgs) >= o.compactAt {
		o.compactLocked()
		o.compactAt = max(o.limit, 2*len(o.msgs))
	}
	if o.compact && len(o.msgs) >= o.limit && o.composeLocked(q) {
		// Behind: the op joined the one queued before it.
		o.mu.Unlock()
		return true
	}
	hard := o.limit
	if o.compact {
		hard = compactedLimit * o.limit
	}
	mergeable := q.op != nil || q.key != ""
	if len(o.msgs) >= hard || (!mergeable && o.plain >= o.limit) {
		// Full of what cannot be merged (errors for a client that floods
		// and does not read them, say): given up.
		o.mu.Unlock()
		return false
	}
	if !mergeable {
		o.plain++
	}
	o.msgs = append(o.msgs, q)
	o.mu.Unlock()
	o.signal()
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
	o.msgs = o.msgs[:0]
	for i, q := range all {
		if q.key != "" && last[q.key] != i {
			continue // replaced by a later one
		}
		if !o.composeLocked(q) {
			o.msgs = append(o.msgs, q)
		}
	}
	clear(all[len(o.msgs):])
}

// composeLocked composes q, a remote op, into the last message queued if
// that is the op of the same document just before it; it reports whether
// it did.
func (o *outbox) composeLocked(q queued) bool {
	if q.op == nil || len(o.msgs) == 0 {
		return false
	}
	prev := &o.msgs[len(o.msgs)-1]
	p := prev.op
	if p == nil || p.doc != q.op.doc || p.to+1 != q.op.from {
		return false
	}
	composed, err := ot.Compose(p.op, q.op.op)
	if err != nil {
		return false // cannot happen for consecutive versions: sent as they are
	}
	prev.op = &remoteOp{doc: p.doc, from: p.from, to: q.op.to, op: composed}
	prev.msg = encode(opMsg{Type: "op", Doc: p.doc, Version: q.op.to, From: p.from, Op: composed})
	return true
}

// take moves queued messages, oldest first, onto batch until it holds max.
func (o *outbox) take(batch [][]byte, max int) [][]byte {
	o.mu.Lock()
	n := min(len(o.msgs), max-len(batch))
	for _, q := range o.msgs[:n] {
		batch = append(batch, q.msg)
		if q.op == nil && q.key == "" {
			o.plain--
		}
	}
	rest := copy(o.msgs, o.msgs[n:])
	clear(o.msgs[rest:])
	o.msgs = o.msgs[:rest]
	if rest == 0 && cap(o.msgs) > 8 {
		o.msgs = nil // a burst is over: let its memory go
		o.compactAt = o.limit
	}
	o.mu.Unlock()
	if rest > 0 {
		o.signal()
	}
	return batch
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
