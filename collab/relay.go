package collab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"

	"tandem/ot"
	"tandem/store"
)

// A room on a node that does not hold its document's lease is a relay: it
// keeps a copy of the document (its sequencer, fed only by the owner's
// committed ops), answers its own editors' joins from it, checks their
// roles, and forwards their ops and presence over one link to the owner.
// What the owner sends back (ops, acks, presence) it fans out to them. Its
// editors never learn the difference.

// uplink is a relay's link to the owner.
type uplink struct {
	ws     *websocket.Conn
	out    *outbox
	ctx    context.Context
	cancel context.CancelFunc
}

// upEvent is something from the owner's side for a room's goroutine: a
// message on the current link, the link's loss, or the outcome of
// connecting (a lease of its own, or a new link).
type upEvent struct {
	link  *uplink
	msg   []byte // a message from the owner
	lost  bool   // the link closed
	ready bool   // the outcome of connecting: lease, or link, or err
	lease *store.Lease
	err   error
}

// relaying reports whether the room forwards to an owner rather than
// sequencing itself.
func (r *room) relaying() bool { return r.hub.cluster != nil && r.lease == nil }

// connect makes this room its document's sequencer, or links it to the
// one that is: it takes the lease if it is free, else links to the holder,
// trying again (the holder may be dead: its lease then lapses) until ctx
// ends. from is the version the room holds (-1: none). With patient false
// it gives up on the first store error.
func (r *room) connect(ctx context.Context, from int64, patient bool) (*store.Lease, *uplink, error) {
	cl := r.hub.cluster
	wait := 50 * time.Millisecond
	pause := func() error {
		select {
		case <-time.After(wait):
			wait = min(2*wait, max(50*time.Millisecond, cl.LeaseTTL/10))
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for {
		actx, cancel := context.WithTimeout(ctx, cl.LeaseTTL)
		l, err := cl.Store.AcquireLease(actx, r.id, cl.NodeID, cl.LeaseTTL)
		cancel()
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, nil, err
		case err != nil && !patient:
			return nil, nil, err
		case err != nil:
			r.hub.log.Warn("taking the document lease failed", "doc", r.id, "err", err)
		case l.NodeID == cl.NodeID:
			return &l, nil, nil
		case l.URL == cl.URL:
			// An earlier life of this node, on the same address, held
			// it: it is gone, and its lease lapses soon.
		case l.URL != "":
			link, err := r.dial(ctx, l.URL)
			if err == nil {
				r.hub.log.Debug("linked to the owner", "doc", r.id, "owner", l.NodeID, "url", l.URL, "epoch", l.Epoch)
				link.send(encodeLink(linkMsg{Type: "join", Doc: r.id, Version: from}))
				return nil, link, nil
			}
			r.hub.log.Debug("owner unreachable", "doc", r.id, "owner", l.NodeID, "err", err)
		}
		if err := pause(); err != nil {
			return nil, nil, fmt.Errorf("no owner for document %s: %w", r.id, err)
		}
	}
}

// dial opens a link to the owner at url, and starts its reader and writer.
func (r *room) dial(ctx context.Context, url string) (*uplink, error) {
	cl := r.hub.cluster
	// A stopped owner's kernel still accepts connections: give up on a
	// handshake that does not finish in a third of the lease.
	dctx, cancel := context.WithTimeout(ctx, cl.LeaseTTL/3)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, strings.TrimSuffix(url, "/")+linkPath, &websocket.DialOptions{
		HTTPHeader: http.Header{linkSecretHeader: {cl.Secret}},
	})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(linkReadLimit(r.hub.cfg))
	u := &uplink{ws: ws, out: newOutbox(linkQueue*r.hub.cfg.OutQueue, false, 0)}
	u.ctx, u.cancel = context.WithCancel(r.hub.ctx)
	r.hub.metrics.linksOut.Inc()
	go u.writeLoop(r.hub.cfg.WriteTimeout)
	go u.readLoop(r)
	go u.keepAlive(cl.LeaseTTL / 3)
	return u, nil
}

// keepAlive pings the owner every period: an owner that does not answer
// within a period (stopped, or cut off) is given up, so that the relay
// takes the lease over once it lapses, rather than wait on a silent link.
func (u *uplink) keepAlive(period time.Duration) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-u.ctx.Done():
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(u.ctx, period)
		err := u.ws.Ping(ctx)
		cancel()
		if err != nil {
			u.close()
			return
		}
	}
}

// send queues a message for the owner; a link that cannot keep up is
// closed (the room links again and re-sends what is unanswered).
func (u *uplink) send(msg []byte) {
	if !u.out.push(queued{msg: msg}) {
		u.close()
	}
}

func (u *uplink) close() { u.cancel() }

func (u *uplink) writeLoop(timeout time.Duration) {
	defer u.ws.CloseNow()
	var batch [][]byte
	for {
		select {
		case <-u.ctx.Done():
			_ = u.ws.Close(closeGoingAway, "")
			return
		case <-u.out.ready:
			batch = u.out.take(batch[:0], maxFrameMsgs)
			for _, m := range batch {
				ctx, cancel := context.WithTimeout(u.ctx, timeout)
				err := u.ws.Write(ctx, websocket.MessageText, m)
				cancel()
				if err != nil {
					u.close()
					return
				}
			}
		}
	}
}

// readLoop hands the owner's messages to the room, one at a time, until
// the link closes, and then says so.
func (u *uplink) readLoop(r *room) {
	defer r.hub.metrics.linksOut.Dec()
	post := func(ev upEvent) bool {
		select {
		case r.upstream <- ev:
			return true
		case <-r.done:
			u.close()
			return false
		}
	}
	for {
		_, data, err := u.ws.Read(u.ctx)
		if err != nil {
			u.close()
			post(upEvent{link: u, lost: true})
			return
		}
		msgs := [][]byte{data}
		if len(data) > 0 && data[0] == '[' {
			var many []json.RawMessage
			if json.Unmarshal(data, &many) != nil {
				u.close()
				continue
			}
			msgs = msgs[:0]
			for _, m := range many {
				msgs = append(msgs, m)
			}
		}
		for _, m := range msgs {
			if !post(upEvent{link: u, msg: m}) {
				return
			}
		}
	}
}

// reconnect finds the owner again, or becomes it, off the room's goroutine.
func (r *room) reconnect() {
	from := r.seq.committed
	if r.needContent {
		from = -1 // the owner then sends the content
	}
	if r.connecting != nil {
		return // under way
	}
	done := make(chan upEvent, 1)
	r.connecting = done
	go func() {
		ctx, cancel := context.WithCancel(r.hub.ctx)
		defer cancel()
		go func() {
			select {
			case <-r.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		// A moment first: an owner that just refused the link (it is
		// stepping down) is not asked again in a tight loop.
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
		lease, link, err := r.connect(ctx, from, true)
		done <- upEvent{ready: true, lease: lease, link: link, err: err} // never blocks: one slot, one send
	}()
}

// abandonConnect, as the room stops, waits for a reconnect under way (its
// context ends with the room) and lets go of what it found.
func (r *room) abandonConnect() {
	if r.connecting == nil {
		return
	}
	ev := <-r.connecting
	r.connecting = nil
	if ev.link != nil {
		ev.link.close()
	}
	if ev.lease != nil {
		r.lease = ev.lease
		r.release()
	}
}

// upstreamEvent handles an upEvent; it reports whether the room stopped.
func (r *room) upstreamEvent(ev upEvent) bool {
	switch {
	case ev.ready:
		switch {
		case ev.err != nil:
			r.fail(ev.err)
			return true
		case ev.lease != nil:
			return r.becomeOwner(ev.lease)
		default:
			r.up = ev.link // the owner's joined comes next
		}
	case ev.link != r.up || r.up == nil:
		// From a link already let go.
	case ev.lost:
		r.linkLost()
	default:
		r.fromOwner(ev.msg)
	}
	return false
}

// linkLost starts finding the owner again; local editors keep their
// sockets meanwhile, and their ops wait to be re-sent.
func (r *room) linkLost() {
	if r.up == nil {
		return // finding the owner already
	}
	r.up.close()
	r.up = nil
	r.hub.metrics.failovers.Inc()
	r.hub.log.Info("link to the owner lost; finding the owner again", "doc", r.id)
	r.reconnect()
}

// ownerMsg is any message from the owner, as a relay reads it.
type ownerMsg struct {
	Type      string          `json:"type"`
	Version   int64           `json:"version"`
	ID        string          `json:"id"`
	User      json.RawMessage `json:"user"` // an id (op, ack, error), or who (presence)
	Op        ot.Op           `json:"op"`
	Content   *string         `json:"content"`
	Ops       *[]opRecordMsg  `json:"ops"`
	Presence  []PresenceInfo  `json:"presence"`
	Session   string          `json:"session"`
	Selection []ot.Range      `json:"selection"`
	Left      bool            `json:"left"`
	Code      store.Code      `json:"code"`
	Message   string          `json:"message"`
}

// opRecordMsg is an op inside joined.ops.
type opRecordMsg struct {
	Version int64  `json:"version"`
	ID      string `json:"id"`
	User    string `json:"user"`
	Op      ot.Op  `json:"op"`
}

// fromOwner handles one message from the owner.
func (r *room) fromOwner(raw []byte) {
	var m ownerMsg
	if err := json.Unmarshal(raw, &m); err != nil {
		r.hub.log.Error("malformed message from the owner", "doc", r.id, "err", err)
		r.linkLost()
		return
	}
	var user string
	if m.Type != "presence" {
		_ = json.Unmarshal(m.User, &user)
	}
	switch m.Type {
	case "joined":
		r.linked(m)
	case "op":
		r.applyOwned(store.OpRecord{Version: m.Version, ID: m.ID, UserID: user, Op: m.Op}, raw)
	case "ack":
		if p := r.forwardedOp(user, m.ID); p != nil && r.seq != nil && m.Version <= r.seq.committed {
			r.answerForwarded(p, m.Version, nil)
		} // else the op itself comes next, and answers it
	case "error":
		switch {
		case m.ID == "" && m.Code == store.CodeNotFound:
			r.fail(store.ErrNotFound)
		case m.ID == "" || m.Code == store.CodeUnavailable:
			// The owner is going, or is not the owner: find it again,
			// and re-send then.
			r.linkLost()
		default:
			if p := r.forwardedOp(user, m.ID); p != nil {
				r.answerForwarded(p, 0, store.Errorf(m.Code, "%s", m.Message))
			}
		}
	case "presence":
		var info UserInfo
		_ = json.Unmarshal(m.User, &info)
		if m.Left {
			r.pres.forget(m.Session)
		} else {
			r.pres.mirror(m.Session, info, m.Selection)
		}
		r.broadcastPresence(raw, m.Session, m.Session)
	}
}

// linked takes the owner's answer to the link's join: the room's first
// copy of the document, or the ops it missed while it was looking for the
// owner. Then it tells the owner who is here and re-sends what was not
// answered, with the original ids, so that each lands once.
func (r *room) linked(m ownerMsg) {
	switch {
	case r.seq == nil && m.Content != nil:
		r.seq = r.newSequencer(m.Version, *m.Content)
	case m.Ops != nil:
		for _, o := range *m.Ops {
			if !r.applyOwned(store.OpRecord{Version: o.Version, ID: o.ID, UserID: o.User, Op: o.Op}, nil) {
				return
			}
		}
	case m.Content != nil:
		r.resync(m.Version, *m.Content)
		r.needContent = false
	}
	local := r.localSessions()
	for _, g := range r.pres.adopt(m.Presence, local) {
		// Gone while the link was down: nobody else will say so.
		r.broadcastPresence(encode(presenceMsg{Type: "presence", Doc: r.id, Version: r.seq.committed, Left: true, PresenceInfo: g}), g.Session, "")
	}
	for _, p := range m.Presence {
		// Who came or moved meanwhile: the owner sent it before this link.
		if !local[p.Session] {
			r.broadcastPresence(encode(presenceMsg{Type: "presence", Doc: r.id, Version: r.seq.committed, PresenceInfo: p}), p.Session, p.Session)
		}
	}
	for c := range r.members {
		r.announce(c, false)
	}
	for _, p := range r.forwarded {
		r.forwardOp(p.q)
	}
}

// announce tells the owner that a local editor is here (with their
// selection), or has left.
func (r *room) announce(c subscriber, left bool) {
	if r.up == nil {
		return // told when linked
	}
	info := c.userInfo()
	msg := linkMsg{Type: "presence", Doc: r.id, Session: c.sessionID(), Info: &info, Left: left, Version: r.seq.committed}
	if !left {
		msg.Selection = r.pres.selectionOf(c.sessionID())
	}
	r.up.send(encodeLink(msg))
}

func (r *room) forwardOp(q submitReq) {
	if r.up != nil {
		r.up.send(encodeLink(linkMsg{Type: "op", Doc: r.id, User: q.user, ID: q.id, Version: q.base, Op: q.op.AppendJSON(nil)}))
	}
}

// forward sends an admitted op to the owner, once however often it is
// re-sent meanwhile; its authors are answered when the owner answers.
func (r *room) forward(q submitReq) {
	if p := r.forwardedOp(q.user, q.id); p != nil {
		p.authors = append(p.authors, q.from)
		return
	}
	p := &pendingOp{q: q, received: q.received, rec: store.OpRecord{ID: q.id, UserID: q.user}}
	p.first[0] = q.from
	p.authors = p.first[:]
	r.forwarded = append(r.forwarded, p)
	r.forwardOp(q)
}

func (r *room) forwardedOp(user, id string) *pendingOp {
	for _, p := range r.forwarded {
		if p.q.user == user && p.q.id == id {
			return p
		}
	}
	return nil
}

// answerForwarded gives a forwarded op's authors its outcome and forgets
// it; it returns the connections told.
func (r *room) answerForwarded(p *pendingOp, version int64, err error) []subscriber {
	if i := slices.Index(r.forwarded, p); i >= 0 {
		r.forwarded = slices.Delete(r.forwarded, i, i+1)
	}
	r.acked = r.tell(p.authors, p.q.id, version, err, r.acked[:0])
	return r.acked
}

// applyOwned applies an op the owner committed to the room's copy and
// passes it on: the ack to its authors here, the op to everyone else (raw
// is the owner's message for it, if it came alone). It reports false, and
// links again, if the op is not the next version.
func (r *room) applyOwned(rec store.OpRecord, raw []byte) bool {
	if rec.Version <= r.seq.version {
		return true // had it already
	}
	if rec.Version != r.seq.version+1 {
		r.hub.log.Warn("the owner's ops skip a version; linking again", "doc", r.id, "want", r.seq.version+1, "got", rec.Version)
		r.linkLost()
		return false
	}
	if _, _, err := r.seq.place(rec.UserID, rec.ID, r.seq.version, rec.Op, nil); err != nil {
		// The copy is wrong: start again from the owner's content.
		r.hub.log.Error("the owner's op does not apply to this copy; starting it again", "doc", r.id, "version", rec.Version, "err", err)
		r.forgetCopy()
		return false
	}
	if err := r.seq.commit(rec.Version); err != nil {
		r.hub.log.Error("relay commit", "doc", r.id, "err", err)
	}
	r.pres.move(rec.Op, rec.UserID)
	var told []subscriber
	if p := r.forwardedOp(rec.UserID, rec.ID); p != nil {
		told = r.answerForwarded(p, rec.Version, nil)
	}
	if raw == nil || !bytes.HasPrefix(raw, []byte(`{"type":"op"`)) {
		raw = encode(opMsg{Type: "op", Doc: r.id, Version: rec.Version, ID: rec.ID, Op: rec.Op, User: rec.UserID})
	}
	q := r.remote(rec, raw)
	for c := range r.members {
		if !slices.Contains(told, c) && !c.enqueue(q) {
			r.drop(c)
		}
	}
	return true
}

// resync starts the room's copy again from the content at version, when
// the ops between cannot be had: every local editor is told to rejoin
// (their client then re-sends what it has not seen acknowledged), and
// forwarded ops are answered "restarted" for the same reason.
func (r *room) resync(version int64, text string) {
	r.hub.log.Warn("document copy restarted from the owner's content", "doc", r.id, "version", version)
	r.seq = r.newSequencer(version, text)
	for _, p := range r.forwarded {
		for _, a := range p.authors {
			a.gone(r, p.q.id, errRoomClosed)
		}
	}
	r.forwarded = nil
	for c := range r.members {
		delete(r.members, c)
		r.pres.forget(c.sessionID())
		c.forget(r.id)
		c.sendDocError(r.id, "", errRestarted)
	}
}

// becomeOwner makes the room its document's sequencer under lease: it
// brings its copy up to the store's head (passing on the ops it missed),
// then sequences the forwarded ops itself, with their original ids: one
// the old owner stored is recognised and acknowledged, not applied again.
func (r *room) becomeOwner(lease *store.Lease) bool {
	r.lease, r.leaseSince = lease, time.Now()
	r.needContent = false
	r.hub.log.Info("took over the document", "doc", r.id, "epoch", lease.Epoch)
	_, head, err := r.hub.store.Load(r.hub.ctx, r.id)
	if err != nil {
		r.fail(err)
		return true
	}
	if head.Version > r.seq.committed {
		caughtUp, err := r.advanceFromStore(head.Version)
		if err != nil {
			r.fail(err)
			return true
		}
		if !caughtUp {
			r.resync(head.Version, head.Text)
		}
	} else if head.Version < r.seq.committed || r.seq.stableText() != head.Text {
		r.resync(head.Version, head.Text)
	}
	// The other nodes' editors were here through the old owner: their
	// nodes announce them again when they link here.
	for _, s := range r.pres.others(r.localSessions()) {
		r.pres.remove(s)
	}
	redo := r.forwarded
	r.forwarded = nil
	for _, p := range redo {
		for _, a := range p.authors {
			q := p.q
			q.from = a
			r.submit(q)
		}
	}
	return false
}

// advanceFromStore brings the room's copy up to version with the ops the
// store holds, passing each on as the owner's link would have; ops the
// link brings later are then known and skipped. It reports false if the
// store could not give them all within the window (the caller resyncs, or
// sends the content).
func (r *room) advanceFromStore(version int64) (bool, error) {
	behind := version - r.seq.committed
	if behind <= 0 {
		return true, nil
	}
	recs, err := r.hub.store.Ops(r.hub.ctx, r.id, r.seq.committed+1, version,
		store.Page{Limit: r.hub.cfg.WindowOps, MaxBytes: historyBudget * r.hub.cfg.MaxDocBytes})
	if err != nil {
		return false, fmt.Errorf("ops the copy missed: %w", err)
	}
	if int64(len(recs)) != behind {
		return false, nil
	}
	for _, rec := range recs {
		if !r.applyOwned(rec, nil) {
			return false, nil
		}
	}
	return true, nil
}

// stepDown ends sequencing under a lease that is lost: nothing accepted
// since the last commit is acknowledged here; it is forwarded to the new
// owner instead, with its original id and base, as the room becomes a
// relay. Other nodes' links are closed: they find the new owner too.
func (r *room) stepDown() {
	r.hub.metrics.stepDowns.Inc()
	redo := append(r.inflight, r.pending...)
	r.seq.rollBack()
	r.inflight, r.pending = nil, nil
	r.commitGen++ // a commit still under way is ignored when it ends
	r.lease = nil
	for _, p := range redo {
		authors := p.authors[:0:0]
		for _, a := range p.authors {
			if _, ok := a.(linkAuthor); !ok { // a relay re-sends its own
				authors = append(authors, a)
			}
		}
		if len(authors) > 0 {
			p.authors = authors
			r.forwarded = append(r.forwarded, p)
		}
	}
	// What this room's editors have not been told yet, they are told now;
	// from here on the next owner tells them (and their copy of the
	// other nodes' editors stays, so that a relink or a takeover can tell
	// who went meanwhile).
	r.flushPresence()
	for c, m := range r.members {
		if m.link {
			delete(r.members, c)
			c.forget(r.id)
			c.kick(closeGoingAway, "owner stepped down")
		}
	}
	r.pres.hush()
	r.reconnect()
}

// localSessions are the sessions of this node's own editors in the room.
func (r *room) localSessions() map[string]bool {
	local := make(map[string]bool, len(r.members))
	for c, m := range r.members {
		if !m.link {
			local[c.sessionID()] = true
		}
	}
	return local
}

// forgetCopy drops a relay's copy of the document when it went wrong: the
// local editors rejoin, and the link is made again for fresh content.
func (r *room) forgetCopy() {
	r.resync(r.seq.committed, r.seq.stableText())
	r.needContent = true
	r.linkLost()
}

// release gives the lease up, or closes the link, as the room stops.
func (r *room) release() {
	if r.up != nil {
		r.up.close()
		r.up = nil
	}
	if r.lease != nil && r.draining {
		// Shutting down: the hub releases every lease of this node in one
		// statement once the rooms have drained (Hub.Close), rather than a
		// thousand rooms each asking the pool at once.
		r.lease = nil
	}
	if r.lease != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.hub.ctx), time.Second)
		defer cancel()
		if err := r.hub.cluster.Store.ReleaseLease(ctx, *r.lease); err != nil {
			r.hub.log.Warn("releasing the document lease failed", "doc", r.id, "err", err)
		}
		r.lease = nil
	}
}
