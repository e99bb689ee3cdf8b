package collab

import (
	"context"
	"time"

	"tandem/auth"
	"tandem/ot"
	"tandem/store"
)

// request is something for a room's goroutine to do: the room's inbox holds
// nothing else. handle runs on that goroutine and reports whether the room
// has stopped.
type request interface {
	handle(r *room) (stopped bool)
}

// The requests.
type (
	// joinReq admits c, answering on reply.
	joinReq struct {
		c       subscriber
		version int64 // -1: send the content
		reply   chan error
		vouched bool // a relay node's link: no role, no presence of its own
	}
	// leaveReq takes c out.
	leaveReq struct{ c subscriber }
	// presenceReq sets c's selection, made at version.
	presenceReq struct {
		c       subscriber
		version int64
		sel     []ot.Range
		// From a relay's link c: the session it is about, who that is,
		// and whether it left.
		session string
		info    UserInfo
		left    bool
	}
	// submitReq sequences an op, made at base by user, sent by from.
	submitReq struct {
		from     author
		user     string
		base     int64
		id       string
		op       ot.Op
		received time.Time
		vouched  bool // forwarded by a relay node, which checked the role
		// grants: a program that is a host app's user (nil: memberships).
		grants *auth.Grants
	}
	// rolesReq brings every member's role, read by refresh number n;
	// applied is closed once the room has applied them (or passed them
	// over).
	rolesReq struct {
		n       int64
		members []store.Member
		err     error
		applied chan struct{}
	}
	// drainReq stops the room once what it accepted is committed.
	drainReq struct{}
	// inspectReq runs a function on the room's goroutine: for tests.
	inspectReq func(*room)
)

// submitResult is a program's answer: the op's version, or why not.
type submitResult struct {
	version int64
	err     error
}

func (q joinReq) handle(r *room) bool     { q.reply <- r.join(q); return false }
func (q leaveReq) handle(r *room) bool    { r.leave(q.c); return false }
func (q presenceReq) handle(r *room) bool { r.presence(q); return false }
func (q submitReq) handle(r *room) bool   { r.submit(q); return false }
func (q rolesReq) handle(r *room) bool    { r.applyRoles(q); return false }
func (q inspectReq) handle(r *room) bool  { q(r); return false }

func (drainReq) handle(r *room) bool {
	r.draining = true
	if r.drained() {
		r.stop()
		return true
	}
	return false
}

// send hands the room a request, waiting while its inbox is full (which
// slows only the sender), unless the room has stopped or ctx ends.
func (r *room) send(ctx context.Context, req request) error {
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
func (r *room) post(req request) { _ = r.send(context.Background(), req) }
