package collab

import (
	"slices"

	"github.com/coder/websocket"

	"tandem/auth"
	"tandem/store"
)

// subscriber is a connection as a room sees it: a session of a user, sent
// messages through a bounded queue, that remembers which rooms hold it.
// *Conn is the implementation; the room knows it only through this.
type subscriber interface {
	sessionID() string
	userInfo() UserInfo
	// send queues msg; false if the queue is full (the room then drops it).
	send(msg []byte) bool
	// enqueue is send for a message compaction may merge (outbox.go).
	enqueue(q queued) bool
	// enqueueAll enqueues several, in order, at once.
	enqueueAll(qs []queued) bool
	sendDocError(doc, id string, err error)
	remember(r *room) bool // the room admits it (false: it holds too many)
	forget(doc string)     // the room let it go
	kick(code websocket.StatusCode, reason string)
	// grants are a host app's token's (nil for others): they, not
	// memberships, decide its roles.
	grants() *auth.Grants
}

// author is who sent an op and waits for its outcome: a connection's
// membership, or a program's request. An op may have several: its author
// may re-send it while it waits.
type author interface {
	// via is the connection the op came through and the membership it
	// came from (nil, nil for a program). The room tells a connection
	// once per op, and only while that membership lasts: a later one of
	// the same connection (after a leave and a join) gets the op itself.
	via() (subscriber, *member)
	// done tells the outcome: stored as version, or refused with err.
	done(r *room, id string, version int64, err error)
	// gone tells an author whose op the room could not answer because it
	// stopped: a program gets err (errRoomClosed: it retries the next
	// room); a connection is told to rejoin and re-send.
	gone(r *room, id string, err error)
}

// A socket's op has two authors in turn: the connection itself until the
// room has checked that it is a member (*Conn), then that membership
// (*member). Both are pointers, so neither costs an allocation per op.

func (c *Conn) via() (subscriber, *member) { return c, nil }

func (c *Conn) done(r *room, id string, version int64, err error) { answer(r, c, id, version, err) }

func (c *Conn) gone(r *room, id string, _ error) { c.sendDocError(r.id, id, errRestarted) }

func (m *member) via() (subscriber, *member) { return m.c, m }

func (m *member) done(r *room, id string, version int64, err error) { answer(r, m.c, id, version, err) }

func (m *member) gone(r *room, id string, _ error) { m.c.sendDocError(r.id, id, errRestarted) }

// errRestarted tells a socket that its op's room stopped before answering.
var errRestarted = store.Errorf(store.CodeUnavailable, "document restarted: rejoin and re-send")

// answer sends a socket author its op's ack, or its refusal.
func answer(r *room, c subscriber, id string, version int64, err error) {
	if err != nil {
		c.sendDocError(r.id, id, err)
		return
	}
	if !c.enqueue(queued{msg: encode(ackMsg{Type: "ack", Doc: r.id, ID: id, Version: version}), answers: r.id}) {
		r.drop(c)
	}
}

// programAuthor is an op's author over REST, waiting on its reply.
type programAuthor chan submitResult

func (programAuthor) via() (subscriber, *member) { return nil, nil }

func (p programAuthor) done(_ *room, _ string, version int64, err error) {
	p <- submitResult{version: version, err: err}
}

func (p programAuthor) gone(_ *room, _ string, err error) { p <- submitResult{err: err} }

// tell gives each author of an op its outcome, each connection once and
// only while the membership that sent it lasts; it returns told with the
// connections it told added.
func (r *room) tell(authors []author, id string, version int64, err error, told []subscriber) []subscriber {
	for _, a := range authors {
		if c, m := a.via(); c != nil {
			if r.members[c] != m || slices.Contains(told, c) {
				continue
			}
			told = append(told, c)
		}
		a.done(r, id, version, err)
	}
	return told
}

var (
	_ author = (*Conn)(nil)
	_ author = (*member)(nil)
	_ author = programAuthor(nil)
)
