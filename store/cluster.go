package store

import (
	"context"
	"errors"
	"time"
)

// ErrFenced: an append was refused because the lease it was made under is
// no longer held (it expired, or another node took it). Nothing was stored;
// the node must stop sequencing the document.
var ErrFenced = errors.New("document lease lost")

// Lease is one node's right to sequence one document, granted by the
// database on its own clock.
type Lease struct {
	DocID   string
	NodeID  string    // the holder
	URL     string    // how other nodes reach the holder ("" if it is not registered)
	Epoch   int64     // grows by one each time the lease is taken
	Expires time.Time // on the database's clock
}

// Node is a server registered with the cluster.
type Node struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Heartbeat time.Time `json:"heartbeat_at"`
}

// Cluster is what several servers on one database share: who they are, and
// which of them sequences each document. Only the Postgres store has it;
// the embedded store is one process.
//
// Exactly one node holds a document's lease at a time. A lease is taken
// when it is free (never taken, expired or released), renewed by its holder
// well before it expires, and fenced: every append made under it names its
// epoch and is refused (ErrFenced) in the same statement if the lease has
// moved on or expired, so two nodes can never both extend a history.
type Cluster interface {
	// RegisterNode records a node and the URL the others reach it at, or
	// refreshes them.
	RegisterNode(ctx context.Context, nodeID, url string) error
	// Nodes lists the registered nodes whose heartbeat is newer than
	// within ago.
	Nodes(ctx context.Context, within time.Duration) ([]Node, error)
	// AcquireLease takes the document's lease for nodeID for ttl if it is
	// free, or held by nodeID already (taking it again moves the epoch on,
	// which fences an earlier holder on the same node). It returns the
	// lease as it stands: NodeID == nodeID means the caller holds it.
	// ErrNotFound if there is no such document.
	AcquireLease(ctx context.Context, docID, nodeID string, ttl time.Duration) (Lease, error)
	// RenewLeases extends every unexpired lease nodeID holds to ttl from
	// now, in one statement, refreshes the node's heartbeat, and returns
	// the epoch of each lease it still holds, by document.
	RenewLeases(ctx context.Context, nodeID string, ttl time.Duration) (map[string]int64, error)
	// ReleaseLease gives the lease up at once if it is still held at its
	// epoch, so that another node can take it without waiting.
	ReleaseLease(ctx context.Context, l Lease) error
	// ReleaseNode gives up every lease nodeID holds and removes it from
	// the nodes.
	ReleaseNode(ctx context.Context, nodeID string) error
	// AppendOpsUnder is History.AppendOps made under a lease: with its
	// errors, and ErrFenced if the lease is not held at l.Epoch, unexpired,
	// when the statement runs.
	AppendOpsUnder(ctx context.Context, l Lease, head int64, ops []NewOp) error
}
