package collab

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	"tandem/store"
)

// Doorbell tells the other nodes of a cluster (several servers on one
// database) about the rare events that change what their open rooms and
// sockets may do: a document's members changed, or a credential was
// revoked. It is never rung per op.
//
// What it guarantees is little, and the hub is built for that. A ring
// reaches the nodes that are listening when it is sent, at most once, in
// the order the rings were sent, a few milliseconds later: the REST call
// that changed a role has answered before the other nodes apply it (on the
// node that answered, the change applies first). A node that was not
// listening misses it, and says so (Hub.HeardGap): its rooms then read
// every member's role again, but a sign-out missed is missed (sockets of a
// revoked credential on that node stay open until they close; see
// docs/security.md, "Known trade-offs and gaps"). A ring that fails is
// logged on the node that rang, not retried.
type Doorbell interface {
	// Ring sends e to every node, this one included (it ignores its own).
	Ring(ctx context.Context, e Event) error
}

// The kinds of Event.
const (
	// EventMembers: the members of Event.Doc changed (shared, role
	// changed, removed) or the document was deleted.
	EventMembers = "members"
	// EventSignout: Event.Credential (an auth.Caller.Credential, a hash or
	// an id, never a secret) was revoked: a sign-out or a revoked token.
	EventSignout = "signout"
)

// Event is what a Doorbell carries, as JSON.
type Event struct {
	Kind       string `json:"kind"`
	Doc        string `json:"doc,omitempty"`
	Credential string `json:"credential,omitempty"`
	// Node is the id of the node that rang, which ignores its own events.
	Node string `json:"node"`
}

// Notifier sends a payload to every listener on a channel: a
// *postgres.DB, whose Listen passes them on.
type Notifier interface {
	Notify(ctx context.Context, channel, payload string) error
}

// NotifyDoorbell returns a Doorbell that sends each event as JSON through
// n on channel. Each node passes what it hears on that channel to
// Hub.Heard, and calls Hub.HeardGap when it may have missed some.
func NotifyDoorbell(n Notifier, channel string) Doorbell {
	return notifyBell{n: n, channel: channel}
}

type notifyBell struct {
	n       Notifier
	channel string
}

func (b notifyBell) Ring(ctx context.Context, e Event) error {
	return b.n.Notify(ctx, b.channel, string(encode(e)))
}

// doorbell is the hub's: the bell and this node's id.
type doorbell struct {
	bell Doorbell
	node string
}

// How long ringing, and applying what was heard, may take.
const (
	ringTimeout  = 5 * time.Second
	heardTimeout = 10 * time.Second
)

// SetDoorbell has the hub ring d (as node nodeID, unique in the cluster;
// a random one if empty) when members change or a credential is revoked,
// after acting on this node. Without one (nil, the default) the hub is
// alone and acts on this node only. Call it before serving, then pass what
// d's channel carries to Heard and HeardGap.
func (h *Hub) SetDoorbell(d Doorbell, nodeID string) {
	if nodeID == "" {
		nodeID = rand.Text()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bell = doorbell{bell: d, node: nodeID}
}

// ring sends e to the other nodes, if there are any. A failure is logged,
// not returned: what was asked is done here, and the other nodes are told
// what they missed only if they see a gap.
func (h *Hub) ring(ctx context.Context, e Event) {
	h.mu.Lock()
	b := h.bell
	h.mu.Unlock()
	if b.bell == nil {
		return
	}
	e.Node = b.node
	// The caller's request may end as soon as it is answered: the ring
	// outlives it, for a short while.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ringTimeout)
	defer cancel()
	if err := b.bell.Ring(ctx, e); err != nil {
		h.log.Warn("doorbell: ring failed; other nodes do not know", "kind", e.Kind, "doc", e.Doc, "err", err)
	}
}

// Heard applies an event rung by another node (the payload of a
// NotifyDoorbell), on this node only, without ringing again: the
// document's open room reads its members' roles again, or the
// credential's sockets close. It ignores this node's own events, and
// malformed ones, which it logs. It returns once the event is applied.
func (h *Hub) Heard(payload string) {
	var e Event
	if err := json.Unmarshal([]byte(payload), &e); err != nil {
		h.log.Warn("doorbell: ignored a malformed event", "bytes", len(payload), "err", err)
		return
	}
	if err := e.check(); err != nil {
		h.log.Warn("doorbell: ignored a malformed event", "kind", e.Kind, "node", e.Node, "err", err)
		return
	}
	h.mu.Lock()
	self := h.bell.node
	h.mu.Unlock()
	if e.Node == self {
		return
	}
	switch e.Kind {
	case EventMembers:
		ctx, cancel := context.WithTimeout(h.ctx, heardTimeout)
		defer cancel()
		h.refreshRoles(ctx, e.Doc)
	case EventSignout:
		h.closeCredential(e.Credential)
	}
}

// check says what is wrong with an event heard, if anything.
func (e Event) check() error {
	if e.Node == "" {
		return fmt.Errorf("no node")
	}
	switch e.Kind {
	case EventMembers:
		if !store.Storable(e.Doc) {
			return fmt.Errorf("no document id")
		}
	case EventSignout:
		if e.Credential == "" {
			return fmt.Errorf("no credential")
		}
	default:
		return fmt.Errorf("unknown kind %q", e.Kind)
	}
	return nil
}

// HeardGap is told that events may have been missed (the doorbell was not
// listening for a while): every open room reads its members' roles again,
// one room after another, as if each had heard that its members changed.
// Sign-outs missed cannot be found again: see Doorbell.
func (h *Hub) HeardGap() {
	h.mu.Lock()
	ids := make([]string, 0, len(h.rooms))
	for id := range h.rooms {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	for _, id := range ids {
		if h.ctx.Err() != nil {
			return
		}
		ctx, cancel := context.WithTimeout(h.ctx, heardTimeout)
		h.refreshRoles(ctx, id)
		cancel()
	}
}
