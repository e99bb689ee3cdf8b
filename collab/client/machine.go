package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tandem/ot"
)

// recoveryWaits are the waits before each attempt at a history fetch.
var recoveryWaits = []time.Duration{0, time.Second, 3 * time.Second}

// receive handles one server message about this document (reader goroutine).
func (d *Doc) receive(m *serverMsg) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return
	}
	// Until the join is answered, what arrives belongs to a membership this
	// client has left: the join's catch-up brings again whatever matters.
	if !d.joined && m.Type != "joined" && (m.Type != "error" || m.ID != "") {
		return
	}
	switch m.Type {
	case "joined":
		if d.joining {
			d.onJoined(m)
		}
	case "ack":
		if o := d.st.Outstanding(); o != nil && m.ID == o.ID && m.Version != nil {
			d.onAck(*m.Version)
		}
	case "op":
		if m.Version == nil || m.Op == nil {
			d.outOfStep(fmt.Sprintf("op message without version or op: id %q", m.ID))
			break
		}
		d.onOp(*m.Version, m.From, m.ID, m.userID(), *m.Op)
	case "presence":
		d.onPresence(m)
	case "role":
		d.role = m.Role
	case "error":
		d.onError(m)
	}
	d.notify()
}

func (d *Doc) onJoined(m *serverMsg) {
	d.joined, d.joining, d.sent = true, false, false
	d.joinFailures = 0
	d.caughtUp = true
	if d.rejoinWanted {
		d.rejoinWanted = false
		d.rejoin()
		return
	}
	if m.Version == nil {
		d.outOfStep("joined without version")
		return
	}
	d.role = m.Role
	if m.Content == nil { // a catch-up: the ops since my version
		if !d.loaded {
			d.resync()
			return
		}
		for _, rec := range m.Ops {
			d.onOp(rec.Version, nil, rec.ID, rec.User, rec.Op)
			if !d.joined || d.err != nil {
				return // out of step, or resyncing
			}
		}
		d.setPresence(m.Presence)
		d.afterJoin()
		return
	}
	if !d.loaded || d.st.Outstanding() == nil {
		d.adopt(*m.Content, *m.Version)
		d.setPresence(m.Presence)
		d.afterJoin()
		return
	}
	// Too far behind for a catch-up, with edits pending: take the missing
	// ops from the history, one by one (§10.4). Later socket messages wait
	// in the socket meanwhile: this is the reader goroutine.
	if err := d.recover(*m.Version); err != nil {
		if d.err == nil && d.loaded {
			d.dropPending(err)
			d.resync()
		}
		return
	}
	d.setPresence(m.Presence)
	d.afterJoin()
}

// recover feeds the stored ops up to version to through onOp.
func (d *Doc) recover(to int64) error {
	var err error
	for _, wait := range recoveryWaits {
		if wait > 0 {
			select {
			case <-time.After(wait):
			case <-d.c.ctx.Done():
				return fmt.Errorf("history: %w", ErrClosed)
			}
		}
		var recs []opRecord
		ctx, cancel := context.WithTimeout(d.c.ctx, 30*time.Second)
		recs, err = d.c.fetchOps(ctx, d.id, d.st.Version()+1, to)
		cancel()
		if err != nil {
			continue
		}
		for _, rec := range recs {
			if rec.Version <= d.st.Version() {
				continue
			}
			if rec.Version != d.st.Version()+1 {
				return fmt.Errorf("history: version %d after %d", rec.Version, d.st.Version())
			}
			d.onOp(rec.Version, nil, rec.ID, rec.User, rec.Op)
			if d.err != nil || !d.loaded {
				return d.err
			}
		}
		if d.st.Version() != to {
			return fmt.Errorf("history ends at %d, not %d", d.st.Version(), to)
		}
		return nil
	}
	return fmt.Errorf("history %d..%d: %w", d.st.Version()+1, to, err)
}

// adopt takes the server's text at version.
func (d *Doc) adopt(content string, version int64) {
	d.st.Reset(content, version)
	d.loaded = true
}

func (d *Doc) setPresence(entries []presenceEntry) {
	clear(d.presence)
	for _, p := range entries {
		d.presence[p.Session] = Presence{Session: p.Session, User: p.User, Selection: p.Selection}
	}
}

func (d *Doc) onAck(version int64) {
	done := d.st.Outstanding()
	for s, p := range d.presence {
		p.Selection = ot.TransformRanges(p.Selection, done.Op, p.User.ID == d.me)
		d.presence[s] = p
	}
	d.sent, d.refusals = false, 0
	if d.st.Ack(version) != nil {
		d.sendOutstanding()
		return
	}
	d.flushPresence()
}

// onOp handles a remote op at version (from..version for a composed op).
func (d *Doc) onOp(version int64, from *int64, id, user string, op ot.Op) {
	if o := d.st.Outstanding(); o != nil && id == o.ID && user == d.me {
		d.onAck(version) // my own op, met in a catch-up or sent over REST
		return
	}
	first := version
	if from != nil {
		first = *from
	}
	applied, err := d.st.Remote(first, version, op)
	if errors.Is(err, ErrNeedHistory) {
		// Pending edits cannot be moved over a composed op as the server
		// moves them (over each op in turn), so take those ops one by one.
		if err := d.recover(version); err != nil {
			if d.err == nil && d.loaded {
				d.rejoin() // the catch-up of a rejoin brings the single ops
			}
			return
		}
		d.afterJoin()
		return
	}
	if err != nil {
		d.outOfStep(err.Error())
		return
	}
	for s, p := range d.presence {
		p.Selection = ot.TransformRanges(p.Selection, op, p.User.ID == user)
		d.presence[s] = p
	}
	d.selection = ot.TransformRanges(d.selection, applied, false)
}

func (d *Doc) onPresence(m *serverMsg) {
	if m.Left {
		delete(d.presence, m.Session)
		return
	}
	u, err := m.userInfo()
	if err != nil {
		d.outOfStep(err.Error())
		return
	}
	d.presence[m.Session] = Presence{Session: m.Session, User: u, Selection: m.Selection}
}

// outOfStep ends a document whose copy no longer fits the server's: a
// server or client bug, which this client reports rather than hides.
func (d *Doc) outOfStep(why string) {
	d.c.send(leaveMsg{Type: "leave", Doc: d.id})
	d.stop(fmt.Errorf("client: doc %s: %w: out of step with the server: %s", d.id, errProtocol, why))
}

func (d *Doc) onError(m *serverMsg) {
	e := &Error{Code: m.Code, Message: m.Message}
	if m.ID != "" {
		if o := d.st.Outstanding(); o != nil && m.ID == o.ID {
			d.onOpRefused(e)
		}
		return // about an op already settled
	}
	if d.joining {
		d.onJoinRefused(e)
		return
	}
	switch m.Code {
	case "not_found":
		d.dropPending(e)
		d.stop(fmt.Errorf("client: doc %s: %w", d.id, e))
	case "unavailable":
		// The room restarted or is shutting down: no longer joined.
		d.joined, d.sent = false, false
		d.after(500*time.Millisecond, func() { d.join() })
	}
	// rate_limited: a presence update was dropped; the next replaces it.
}

func (d *Doc) onOpRefused(e *Error) {
	o := d.st.Outstanding()
	if e.Code == "rate_limited" {
		d.sent = false
		d.after(d.c.opts.RateLimitWait, func() {
			if d.st.Outstanding() == o && !d.sent {
				d.sendOutstanding()
			}
		})
		return
	}
	if fatalCodes[e.Code] {
		d.dropPending(e)
		d.resync()
		return
	}
	d.refusals++
	if (e.Code == "bad_request" || e.Code == "internal") && d.refusals >= 2 && d.caughtUp && d.joined && !o.Rebased {
		// Refused again after a rejoin caught up without meeting it: its
		// base is too old and it was never applied. Send it as a new op.
		d.st.Rebase()
		d.sent = false
		d.sendOutstanding()
		return
	}
	// unavailable, internal, bad_request (not joined, too far behind):
	// rejoin, at once the first time, then backing off.
	d.caughtUp = false
	if d.refusals <= 1 {
		d.rejoin()
		return
	}
	d.after(min(30*time.Second, 250*time.Millisecond<<d.refusals), func() {
		if d.st.Outstanding() == o {
			d.rejoin()
		}
	})
}

func (d *Doc) onJoinRefused(e *Error) {
	d.joining, d.rejoinWanted = false, false
	if e.Code == "not_found" {
		d.dropPending(e)
		d.stop(fmt.Errorf("client: doc %s: %w", d.id, e))
		return
	}
	d.joinFailures++
	if e.Code == "bad_request" { // "already joined": a leave was lost
		d.c.send(leaveMsg{Type: "leave", Doc: d.id})
	}
	d.after(min(30*time.Second, 500*time.Millisecond<<d.joinFailures), func() { d.join() })
}

// dropPending discards pending edits that will never apply, remembering
// why for WaitSynced.
func (d *Doc) dropPending(err error) {
	if !d.st.Drop() {
		return
	}
	d.sent = false
	if d.dropped == nil {
		d.dropped = fmt.Errorf("client: doc %s: edit refused, local edits dropped: %w", d.id, err)
	}
}
