package client

import (
	"context"
	"time"

	"tandem/ot"
)

// presenceEvery is the shortest gap between two presence messages; the
// server broadcasts every 40 ms.
const presenceEvery = 50 * time.Millisecond

// maxRanges is the most ranges a selection may hold.
const maxRanges = 100

// connected is called with each new socket: it (re)joins.
func (d *Doc) connected(me string, gen int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil || (d.gen == gen && (d.joined || d.joining)) {
		return // joined on this socket already (Open raced the reconnect)
	}
	d.me = me
	d.joined, d.joining, d.sent = false, false, false
	d.joinFailures, d.rejoinWanted = 0, false
	d.join()
}

// disconnected is called when the socket drops. Local edits go on.
func (d *Doc) disconnected() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.joined, d.joining, d.sent = false, false, false
	clear(d.presence)
	d.notify()
}

// join asks for the document at the version held, unless joined, joining
// or failed.
func (d *Doc) join() {
	if d.joined || d.joining || d.err != nil {
		return
	}
	msg := joinMsg{Type: "join", Doc: d.id}
	if d.loaded {
		v := d.st.Version()
		msg.Version = &v
	}
	d.gen, d.joining = d.c.sendGen(msg)
}

// rejoin leaves and joins again at the current version, keeping pending
// edits.
func (d *Doc) rejoin() {
	if d.joining {
		d.rejoinWanted = true // never two joins in flight
		return
	}
	d.c.send(leaveMsg{Type: "leave", Doc: d.id})
	d.joined, d.sent = false, false
	d.join()
}

// resync drops the local text and loads the server's.
func (d *Doc) resync() {
	d.st.Drop()
	d.sent, d.loaded = false, false
	clear(d.presence)
	d.rejoin()
}

// afterJoin re-sends the outstanding op unchanged (§10 step 3) and my
// selection.
func (d *Doc) afterJoin() {
	if d.st.Outstanding() != nil && !d.sent {
		d.sendOutstanding()
	}
	if d.selection != nil {
		d.presenceDirty = true
	}
	d.flushPresence()
}

// sendOutstanding sends the outstanding op as first made: over the socket,
// or over REST when its message is too large for a frame.
func (d *Doc) sendOutstanding() {
	if !d.joined {
		return // sent after the next join
	}
	o := d.st.Outstanding()
	if o.Orig.WireSize()+len(d.id)+len(o.ID)+64 > d.c.opts.RESTBytes {
		d.submitOverREST(o)
		return
	}
	d.sent = d.c.send(opMsg{Type: "op", Doc: d.id, Version: o.Base, ID: o.ID, Op: o.Orig})
	if d.sent && d.c.onSent != nil {
		d.c.onSent(o.ID)
	}
}

// submitOverREST sends a large op with the same id and base over REST. The
// socket then brings it as an op with my id, which is its ack.
func (d *Doc) submitOverREST(o *Pending) {
	d.sent = true
	go func() {
		ctx, cancel := context.WithTimeout(d.c.ctx, time.Minute)
		err := d.c.submitOp(ctx, d.id, o.Base, o.ID, o.Orig)
		cancel()
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.st.Outstanding() != o || d.err != nil {
			return
		}
		if err == nil {
			d.restFailures = 0
			return
		}
		d.sent = false
		var e *Error
		switch code := Code(err); {
		case fatalCodes[code] || code == "bad_request" || code == "unavailable":
			e = &Error{Code: code, Message: err.Error()}
			d.onOpRefused(e)
		default: // network, rate limits, server faults: try again later
			d.restFailures++
			d.after(min(30*time.Second, time.Second<<d.restFailures), func() {
				if d.st.Outstanding() == o && !d.sent {
					d.sendOutstanding()
				}
			})
		}
		d.notify()
	}()
}

// SetSelection sets my selection (ranges in code points of the local
// text; nil for none). It is sent when no edit is pending, at most every
// 50 ms.
func (d *Doc) SetSelection(ranges []ot.Range) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(ranges) > maxRanges {
		ranges = ranges[:maxRanges]
	}
	d.selection = append([]ot.Range(nil), ranges...)
	if ranges == nil {
		d.selection = nil
	}
	d.presenceDirty = true
	d.flushPresence()
}

// flushPresence sends my selection when synchronized, at most every
// presenceEvery: only then are local and server texts the same.
func (d *Doc) flushPresence() {
	if !d.presenceDirty || !d.joined || !d.loaded || d.st.Outstanding() != nil || d.presenceTimer != nil || d.err != nil {
		return
	}
	if wait := time.Until(d.lastPresence.Add(presenceEvery)); wait > 0 {
		d.presenceTimer = time.AfterFunc(wait, func() {
			d.mu.Lock()
			defer d.mu.Unlock()
			d.presenceTimer = nil
			d.flushPresence()
		})
		return
	}
	d.presenceDirty = false
	d.lastPresence = time.Now()
	d.c.send(presenceMsg{Type: "presence", Doc: d.id, Version: d.st.Version(), Selection: d.selection})
}

// Presence lists the other connections in the document, with their
// selections moved onto the local text (through pending edits).
func (d *Doc) Presence() []Presence {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Presence, 0, len(d.presence))
	for _, p := range d.presence {
		sel := p.Selection
		if o := d.st.Outstanding(); o != nil {
			sel = ot.TransformRanges(sel, o.Op, false)
		}
		if b := d.st.Buffer(); b != nil {
			sel = ot.TransformRanges(sel, *b, false)
		}
		out = append(out, Presence{Session: p.Session, User: p.User, Selection: sel})
	}
	return out
}

// after runs fn under the lock after wait, unless the document failed.
func (d *Doc) after(wait time.Duration, fn func()) {
	time.AfterFunc(wait, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.err == nil {
			fn()
			d.notify()
		}
	})
}
