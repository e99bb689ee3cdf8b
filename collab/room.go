package collab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
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

	pending   []*pendingOp      // accepted, waiting for the next commit
	inflight  []*pendingOp      // in the commit under way
	commits   chan commitResult // the commit's result
	commitGen int               // numbers commits: a result for an earlier one is stale

	// In a cluster (relay.go): the lease the room sequences under, or, on
	// a relay, its link to the owner and the ops forwarded over it that
	// the owner has not answered yet, in the order they came.
	lease      *store.Lease
	leaseSince time.Time // when it was taken, on this node's clock
	up         *uplink
	upstream   chan upEvent
	connecting chan upEvent // the outcome of reconnect, when it is under way
	forwarded  []*pendingOp
	// needContent: the relay's copy went wrong; the next link asks the
	// owner for the content rather than the ops since its version.
	needContent bool

	// Scratch for committedBatch: who got the ack of one op, the batch's
	// ops as the others get them, and how many of those each member has.
	acked    []subscriber
	batchOps []queued
	upTo     map[subscriber]int
	pace     pacer // the members' coalescing window, from the room's rate

	members  map[subscriber]*member
	pres     *presence // who is here and their selections
	draining bool
	idleFor  time.Duration

	// refreshes numbers role refreshes as they are asked for (by
	// Hub.MembersChanged, off the room's goroutine: hence atomic);
	// rolesApplied is the latest one applied.
	refreshes    atomic.Int64
	rolesApplied int64
}

// member is one connection in the room.
type member struct {
	c        subscriber
	role     store.Role
	user     UserInfo
	joinedAt int64 // room.refreshes when it joined: refreshes asked before do not judge it
	// grants: a host app's user, whose role comes from these.
	grants *auth.Grants

	// link: a relay node's link, speaking for the editors there; remote
	// are the sessions of theirs it has put in presence.
	link   bool
	remote map[string]bool
}

// commitResult is the outcome of commit number gen.
type commitResult struct {
	gen int
	err error
}

// pendingOp is an accepted op until it is committed and acknowledged.
type pendingOp struct {
	rec      store.OpRecord
	q        submitReq // the request as received, to sequence again after a rollback
	authors  []author  // who sent it: its author, and re-sends meanwhile
	first    [1]author // authors' first backing: no allocation for the usual one
	received time.Time
	after    *string // the text at rec.Version, kept where the store snapshots (store.NewOp.After)
}

func newRoom(h *Hub, id string) *room {
	return &room{
		id:       id,
		hub:      h,
		inbox:    make(chan request, 256),
		done:     make(chan struct{}),
		commits:  make(chan commitResult, 1),
		upstream: make(chan upEvent, 256),
		members:  make(map[subscriber]*member),
		upTo:     make(map[subscriber]int),
		pres:     newPresence(id),
	}
}

func (r *room) run() {
	defer func() {
		close(r.done)
		// Whatever slipped into the inbox as it stopped is turned away too.
		r.refuseQueued(errRoomClosed)
		r.abandonConnect()
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
		case res := <-r.commits:
			if res.gen != r.commitGen {
				continue // from before the room stepped down
			}
			if err := res.err; err != nil {
				if r.commitFailed(err) {
					return
				}
			} else if err := r.committedBatch(); err != nil {
				r.fail(err)
				return
			}
			if r.drained() {
				r.stop()
				return
			}
		case ev := <-r.upstream:
			if r.upstreamEvent(ev) {
				return
			}
			if r.drained() {
				r.stop()
				return
			}
		case ev := <-r.connecting:
			r.connecting = nil
			if r.upstreamEvent(ev) {
				return
			}
			if r.drained() {
				r.stop()
				return
			}
		case <-tick.C:
			r.flushPresence()
			if len(r.members) == 0 && r.inflight == nil && len(r.pending) == 0 && len(r.forwarded) == 0 {
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

// drained reports whether a draining room has nothing left to answer.
func (r *room) drained() bool {
	return r.draining && len(r.pending) == 0 && r.inflight == nil && (len(r.forwarded) == 0 || r.up == nil)
}

// load reads the document's head from the store; in a cluster, it first
// takes the document's lease, or links to the node that holds it and
// takes the head from there.
func (r *room) load() error {
	if r.hub.cluster != nil {
		return r.loadClustered()
	}
	_, c, err := r.hub.store.Load(r.hub.ctx, r.id)
	if err != nil {
		return err
	}
	r.seq = r.newSequencer(c.Version, c.Text)
	return nil
}

func (r *room) newSequencer(version int64, text string) *sequencer {
	cfg := r.hub.cfg
	return newSequencer(version, text, seqLimits{
		MaxDocBytes: cfg.MaxDocBytes, WindowOps: cfg.WindowOps, WindowBytes: cfg.WindowBytes, MaxBehind: cfg.MaxBehind,
	})
}

// loadClustered is load in a cluster. It waits up to three lease TTLs for
// an owner (one that died must first let its lease lapse).
func (r *room) loadClustered() error {
	ctx, cancel := context.WithTimeout(r.hub.ctx, 3*r.hub.cluster.LeaseTTL)
	defer cancel()
	for {
		lease, link, err := r.connect(ctx, -1, false)
		if err != nil {
			return err
		}
		if lease != nil {
			r.lease, r.leaseSince = lease, time.Now()
			_, c, err := r.hub.store.Load(r.hub.ctx, r.id)
			if err != nil {
				return err
			}
			r.seq = r.newSequencer(c.Version, c.Text)
			return nil
		}
		if err := r.awaitJoined(ctx, link); err == nil || errors.Is(err, store.ErrNotFound) {
			return err
		} else if ctx.Err() != nil {
			return err
		}
		select { // the owner refused (it is stepping down): a moment before asking again
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// awaitJoined waits for the owner's answer to a new link's join and takes
// its content. On an error the link is closed.
func (r *room) awaitJoined(ctx context.Context, link *uplink) error {
	for {
		select {
		case ev := <-r.upstream:
			if ev.link != link {
				continue
			}
			if ev.lost {
				return errors.New("link lost before joined")
			}
			var m ownerMsg
			if err := json.Unmarshal(ev.msg, &m); err != nil {
				link.close()
				return fmt.Errorf("owner's answer: %w", err)
			}
			switch {
			case m.Type == "joined" && m.Content != nil:
				r.up = link
				r.seq = r.newSequencer(m.Version, *m.Content)
				r.pres.adopt(m.Presence, nil)
				return nil
			case m.Type == "error" && m.Code == store.CodeNotFound:
				link.close()
				return store.ErrNotFound
			case m.Type == "error":
				link.close()
				return store.Errorf(m.Code, "%s", m.Message)
			}
		case <-ctx.Done():
			link.close()
			return store.Errorf(store.CodeUnavailable, "the document's owner did not answer: %v", ctx.Err())
		}
	}
}

// stop ends the room cleanly (idle, or drained for shutdown): the hub
// forgets it first, so new requests go to a successor, and what is already
// queued is turned away to retry there.
func (r *room) stop() {
	r.release()
	for c := range r.members {
		c.forget(r.id)
	}
	r.hub.forget(r)
	r.refuseQueued(errRoomClosed)
	r.hub.hooks.closed(r.id) // a change waiting for its debounce is delivered now
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

// fail ends the room after an error it cannot recover from (a load or a
// commit that failed): nothing unacknowledged was promised, so every
// connection in it is closed to reconnect, and programs get the error.
func (r *room) fail(err error) {
	notFound := errors.Is(err, store.ErrNotFound)
	if !notFound {
		r.hub.log.Error("room failed", "doc", r.id, "err", err)
	}
	r.release()
	for _, p := range append(append(r.inflight, r.pending...), r.forwarded...) {
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
