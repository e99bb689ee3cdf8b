package collab

import (
	"errors"
	"fmt"

	"tandem/auth"
	"tandem/store"
)

// join admits a connection: its role is read here, the joined message (the
// content, or the ops it missed) goes out, and the others learn who came.
func (r *room) join(q joinReq) error {
	if r.draining {
		return ErrClosing
	}
	c := q.c
	user := c.userInfo()
	if _, ok := r.members[c]; ok {
		return store.Errorf(store.CodeBadRequest, "already joined")
	}
	m := &member{c: c, user: user, joinedAt: r.refreshes.Load()}
	if q.vouched {
		// A relay node's link: its editors' roles are checked there.
		if r.relaying() {
			return errNotOwner
		}
		m.link, m.remote = true, make(map[string]bool)
	} else {
		// The role is read here, in the room, so that no membership
		// change can fall between the check and the join.
		role, err := auth.AuthorizeGranted(r.hub.ctx, r.hub.store, r.id, user.ID, c.grants(), auth.NeedRead)
		if err != nil {
			return err
		}
		m.role, m.grants = role, c.grants()
	}
	if q.version > r.seq.committed && r.relaying() {
		// The editor saw more than this copy has: it came from an owner
		// whose last ops had not reached this relay (it stopped, say).
		// They are in the store; the copy catches up there rather than
		// sending the content, which would cost the editor its pending op.
		if _, err := r.advanceFromStore(q.version); err != nil {
			r.hub.log.Warn("a relay's copy could not catch up from the store", "doc", r.id, "err", err)
		}
	}
	msg := joinedMsg{Type: "joined", Doc: r.id, Version: r.seq.committed, Role: m.role, Presence: r.pres.list(c.sessionID())}
	ops, ok := r.catchUp(q.version)
	if ok {
		msg.Ops = &ops
	} else {
		text := r.seq.stableText()
		msg.Content = &text
	}
	if !c.remember(r) {
		return store.Errorf(store.CodeBadRequest, "at most %d documents per connection", r.hub.cfg.DocsPerConn)
	}
	if !c.send(encode(msg)) {
		c.forget(r.id)
		return store.Errorf(store.CodeUnavailable, "connection too slow")
	}
	r.members[c] = m
	switch {
	case m.link:
	case r.relaying():
		r.pres.mirror(c.sessionID(), user, nil)
		r.announce(c, false) // the owner tells everyone
	default:
		r.pres.add(c.sessionID(), user) // the others learn who came
	}
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

func (r *room) leave(c subscriber) {
	if _, ok := r.members[c]; !ok {
		return
	}
	c.forget(r.id)
	r.unpresent(c) // everyone else sees the cursor go, at the next flush
	delete(r.members, c)
}

// unpresent takes a member that goes out of presence: on a relay, the
// owner is told; a link's editors all go with it.
func (r *room) unpresent(c subscriber) {
	switch m := r.members[c]; {
	case m != nil && m.link:
		for s := range m.remote {
			if !r.claimed(s, c) { // a newer link of the same node may have it
				r.pres.remove(s)
			}
		}
	case r.relaying():
		// The owner tells everyone; the others here hear it at the next
		// flush too, in case the link is down (twice is harmless).
		r.pres.remove(c.sessionID())
		r.announce(c, true)
	default:
		r.pres.remove(c.sessionID())
	}
}

// claimed reports whether a link other than c has put session in presence.
func (r *room) claimed(session string, c subscriber) bool {
	for o, m := range r.members {
		if o != c && m.link && m.remote[session] {
			return true
		}
	}
	return false
}

// broadcastPresence sends msg, presence about session, to every member but
// the one with session skip ("": everyone); a later presence about the
// same session replaces it in a slow member's queue. Members whose queue
// is full even so are dropped (they reconnect and catch up).
func (r *room) broadcastPresence(msg []byte, session, skip string) {
	q := queued{msg: msg, key: r.id + "\x00" + session}
	for c := range r.members {
		if c.sessionID() != skip && !c.enqueue(q) {
			r.drop(c)
		}
	}
}

// drop removes a member that cannot keep up; the others learn it left at
// the next presence flush (not now: drop runs inside broadcasts).
func (r *room) drop(c subscriber) {
	r.unpresent(c)
	c.forget(r.id)
	delete(r.members, c)
	r.hub.metrics.dropped.Inc()
}

func (r *room) presence(q presenceReq) {
	m, ok := r.members[q.c]
	if !ok {
		q.c.sendDocError(r.id, "", store.Errorf(store.CodeBadRequest, "join the document before sending presence"))
		return
	}
	session := q.c.sessionID()
	switch {
	case m.link:
		// One of a relay's editors: it came, moved or left.
		session = q.session
		if q.left {
			delete(m.remote, session)
			r.pres.remove(session)
			return
		}
		m.remote[session] = true // it goes when the link does
		if !r.pres.here(session) {
			r.pres.add(session, q.info)
		}
	case r.relaying():
		if r.up != nil {
			info := q.c.userInfo()
			r.up.send(encodeLink(linkMsg{Type: "presence", Doc: r.id, Session: session, Info: &info, Version: q.version, Selection: q.sel}))
		}
		return
	}
	if q.version > r.seq.committed {
		if m.link {
			return // not the relay's fault, nor its editor's to hear
		}
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
			if m.link {
				return
			}
			q.c.sendDocError(r.id, "", fmt.Errorf("read history: %w", err))
			return
		}
	}
	r.pres.set(session, selectionAt(q.sel, since, r.seq.stableLen()))
}

// flushPresence broadcasts who left and the latest presence of each member
// that came or moved since the last flush.
func (r *room) flushPresence() {
	for _, n := range r.pres.flush(r.seq.committed) {
		if n.skip != "" && !r.pres.here(n.skip) {
			continue // dropped by a broadcast of this flush: its "left" comes next
		}
		r.broadcastPresence(n.msg, n.session, n.skip)
	}
}

// applyRoles applies the roles read by refresh number q.n (see
// Hub.MembersChanged) to the members that were there when it was asked (a
// later joiner read its own role), unless a later refresh was applied
// already: a removed member is told and leaves, a changed role applies to
// the next op.
func (r *room) applyRoles(q rolesReq) {
	defer close(q.applied)
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
		if m.joinedAt >= q.n || m.link {
			continue // a link's editors are judged on their own node
		}
		role, ok := roles[c.userInfo().ID]
		if m.grants != nil {
			// A host app's user: the token's grant, capped by the app's
			// account's role, which is what changed, if anything.
			role, ok = m.grants.Effective(r.id, roles[m.grants.AppUserID])
		}
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
