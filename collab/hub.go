package collab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"tandem/auth"
	"tandem/ot"
	"tandem/store"
)

// Hub holds the open document rooms and the connections. One room per
// document, created on first use and closed when idle.
type Hub struct {
	store   store.Store
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	// ctx is what rooms call the store with; Close cancels it (at once
	// when the rooms do not drain in time, so that a store call that hangs
	// ends; else once they have).
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	rooms   map[string]*room
	conns   map[*Conn]struct{}
	revoked map[string]time.Time // credentials revoked lately (CloseCredential)
	perUser map[string]int
	writes  *auth.KeyedLimiter // bytes written per user
	closing bool
	running sync.WaitGroup // room goroutines

	cluster *clusterState  // nil: one node (JoinCluster)
	renewer sync.WaitGroup // the lease renewer
	bell    doorbell       // to the other nodes (doorbell.go); none if alone

	hooks *webhooks // host apps' webhooks (webhooks.go)
}

// ErrClosing is returned once the hub has begun to shut down.
var ErrClosing = store.Errorf(store.CodeUnavailable, "the server is shutting down")

// NewHub returns a hub on st, registering its metrics with reg, or an error
// if cfg is not valid (start from DefaultConfig).
func NewHub(st store.Store, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Origins == nil {
		cfg.Origins, _ = auth.NewOriginPolicy("", nil, false, nil) // cannot fail without origins
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := newMetrics(reg)
	return &Hub{
		hooks:   newWebhooks(st, cfg, log, m),
		ctx:     ctx,
		cancel:  cancel,
		store:   st,
		cfg:     cfg,
		writes:  auth.NewKeyedLimiter(rate.Limit(float64(cfg.WriteBytesPerMin)/60), cfg.WriteBytesPerMin),
		log:     log,
		metrics: m,
		rooms:   make(map[string]*room),
		conns:   make(map[*Conn]struct{}),
		revoked: make(map[string]time.Time),
		perUser: make(map[string]int),
	}, nil
}

// withRoom calls fn with the document's room, starting one if needed, and
// retries once if the room closed under it (idle or failed).
func (h *Hub) withRoom(docID string, fn func(r *room) error) error {
	for range 3 {
		r, err := h.room(docID)
		if err != nil {
			return err
		}
		if err := fn(r); !errors.Is(err, errRoomClosed) {
			return err
		}
	}
	return store.Errorf(store.CodeUnavailable, "document %s is restarting; retry", docID)
}

func (h *Hub) room(docID string) (*room, error) {
	if !store.Storable(docID) {
		// No document has such an id: answer without starting a room.
		return nil, store.Errorf(store.CodeNotFound, "no document %q", docID)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return nil, ErrClosing
	}
	if r, ok := h.rooms[docID]; ok {
		return r, nil
	}
	r := newRoom(h, docID)
	h.rooms[docID] = r
	h.metrics.rooms.Inc()
	h.running.Add(1)
	go func() {
		defer h.running.Done()
		r.run()
	}()
	return r, nil
}

// isClosing reports whether Close has begun.
func (h *Hub) isClosing() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closing
}

// openRooms is every open room, as of now.
func (h *Hub) openRooms() []*room {
	h.mu.Lock()
	defer h.mu.Unlock()
	rooms := make([]*room, 0, len(h.rooms))
	for _, r := range h.rooms {
		rooms = append(rooms, r)
	}
	return rooms
}

// forget removes a room that has stopped.
func (h *Hub) forget(r *room) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.rooms[r.id] == r {
		delete(h.rooms, r.id)
		h.metrics.rooms.Dec()
	}
}

// MembersChanged has the document's room, if open, check the roles of
// everyone in it again: after a share, a role change, a removal or a
// delete. The roles are read here, with one query, on the caller's
// goroutine (the room goes on sequencing meanwhile), and it returns once
// the room has applied them: an op that arrives after the caller has
// answered is judged by the new roles. Then it rings the doorbell, if
// any, for the other nodes to do the same.
func (h *Hub) MembersChanged(ctx context.Context, docID string) {
	h.refreshRoles(ctx, docID)
	h.ring(ctx, Event{Kind: EventMembers, Doc: docID})
}

// refreshRoles is MembersChanged on this node alone.
func (h *Hub) refreshRoles(ctx context.Context, docID string) {
	h.mu.Lock()
	r, ok := h.rooms[docID]
	h.mu.Unlock()
	if !ok {
		return // nobody to check: a join reads its role
	}
	n := r.refreshes.Add(1)
	members, err := h.store.ListMembers(ctx, docID)
	q := rolesReq{n: n, members: members, err: err, applied: make(chan struct{})}
	if r.send(ctx, q) != nil {
		return
	}
	select {
	case <-q.applied:
	case <-r.done:
	case <-ctx.Done():
	}
}

// allowWrite spends op's stored size (its wire form, escapes included)
// from the user's write budget, which bounds how fast one person can grow
// the stored history (every op is kept); if it is spent it returns the wait.
func (h *Hub) allowWrite(userID string, op ot.Op) (bool, time.Duration) {
	return h.writes.Take(userID, op.WireSize(), time.Now())
}

// writingTooFast says why an op or document over the write budget is
// refused; errWritingTooFast is that refusal on a socket.
const writingTooFast = "writing too much too fast"

var errWritingTooFast = store.Errorf(store.CodeRateLimited, "%s; slow down", writingTooFast)

// Submit sequences one operation for a program (POST /api/docs/{id}/ops),
// through the same room as the sockets, and returns its version once it is
// stored. The caller has checked the user may edit.
func (h *Hub) Submit(ctx context.Context, docID, userID string, base int64, id string, op ot.Op) (int64, error) {
	return h.SubmitGranted(ctx, docID, userID, nil, base, id, op)
}

// SubmitGranted is Submit for a host app's user, whose role the room reads
// from grants (nil: from memberships).
func (h *Hub) SubmitGranted(ctx context.Context, docID, userID string, grants *auth.Grants, base int64, id string, op ot.Op) (int64, error) {
	for range 3 {
		r, err := h.room(docID)
		if err != nil {
			return 0, err
		}
		reply := make(chan submitResult, 1)
		if err := r.send(ctx, submitReq{from: programAuthor(reply), user: userID, base: base, id: id, op: op, received: time.Now(), grants: grants}); errors.Is(err, errRoomClosed) {
			continue
		} else if err != nil {
			return 0, err
		}
		select {
		case res := <-reply:
			if errors.Is(res.err, errRoomClosed) {
				continue // it closed before reading the request: try its successor
			}
			return res.version, res.err
		case <-r.done:
			select {
			case res := <-reply:
				if !errors.Is(res.err, errRoomClosed) {
					return res.version, res.err
				}
			default:
			}
			continue
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for the commit: %w", ctx.Err())
		}
	}
	return 0, store.Errorf(store.CodeUnavailable, "document %s is restarting; retry", docID)
}

// Close shuts the engine down: it refuses new work, lets every room commit
// and acknowledge what it has accepted, then closes every connection with
// "going away" so clients reconnect (to this server when it returns, or to
// another).
func (h *Hub) Close(ctx context.Context) error {
	defer func() {
		h.cancel()
		h.renewer.Wait()
	}()
	h.mu.Lock()
	h.closing = true
	h.mu.Unlock()
	rooms := h.openRooms()
	for _, r := range rooms {
		r.post(drainReq{})
	}
	done := make(chan struct{})
	go func() {
		h.running.Wait()
		close(done)
	}()
	var err error
	drained := true
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("rooms did not drain: %w", ctx.Err())
		drained = false
	}
	h.mu.Lock()
	conns := make([]*Conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.kick(closeGoingAway, "server shutting down")
	}
	if !drained {
		// Now that every socket is told "going away", a store call that
		// hangs ends, and its room fails without a word to anyone.
		h.cancel()
	}
	if rerr := h.releaseAll(ctx); rerr != nil {
		err = errors.Join(err, fmt.Errorf("release leases: %w", rerr))
	}
	h.hooks.close(ctx) // what the rooms committed last is delivered, once

	for _, c := range conns {
		select {
		case <-c.finished:
		case <-ctx.Done():
			return errors.Join(err, fmt.Errorf("connections did not close: %w", ctx.Err()))
		}
	}
	return err
}

// CloseCredential closes, with 1008 "signed out", every socket opened with
// credential (an auth.Caller.Credential): its session ended or its API
// token was revoked. Pass it to auth.Service.OnRevoke. A socket whose
// handshake was authenticated just before and registers just after is
// refused too: the credential is remembered for a while. Then it rings
// the doorbell, if any, for the other nodes to do the same.
func (h *Hub) CloseCredential(credential string) {
	h.closeCredential(credential)
	if credential != "" {
		h.ring(context.Background(), Event{Kind: EventSignout, Credential: credential})
	}
}

// closeCredential is CloseCredential on this node alone.
func (h *Hub) closeCredential(credential string) {
	if credential == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	if len(h.revoked) >= maxRevoked {
		for c, at := range h.revoked {
			if now.Sub(at) > revokedFor {
				delete(h.revoked, c)
			}
		}
	}
	h.revoked[credential] = now
	for c := range h.conns {
		if c.cred == credential {
			c.kick(closePolicy, "signed out")
		}
	}
}

// A revoked credential is remembered for revokedFor (longer than any
// handshake takes), and old ones are pruned when maxRevoked are held.
const (
	revokedFor = 10 * time.Minute
	maxRevoked = 1024
)

// addConn registers a connection, enforcing the per-user cap.
func (h *Hub) addConn(c *Conn) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return ErrClosing
	}
	if _, ok := h.revoked[c.cred]; ok && c.cred != "" {
		return store.Errorf(store.CodeUnauthorized, "signed out")
	}
	if c.link {
		// Another node's link, one per document it relays: not a user's.
		h.conns[c] = struct{}{}
		return nil
	}
	if h.perUser[c.user.ID] >= h.cfg.ConnsPerUser {
		return store.Errorf(store.CodeRateLimited, "at most %d connections per user", h.cfg.ConnsPerUser)
	}
	h.perUser[c.user.ID]++
	h.conns[c] = struct{}{}
	h.metrics.conns.Inc()
	return nil
}

func (h *Hub) removeConn(c *Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.conns[c]; !ok {
		return
	}
	delete(h.conns, c)
	if c.link {
		return
	}
	if h.perUser[c.user.ID]--; h.perUser[c.user.ID] <= 0 {
		delete(h.perUser, c.user.ID)
	}
	h.metrics.conns.Dec()
}
