package collab

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"golang.org/x/time/rate"

	"tandem/store"
)

// Cluster is how a hub takes part in several servers on one database
// (docs/cluster.md). Exactly one node sequences a document at a time: the
// one holding its lease (store.Cluster). Every other node with editors in
// the document opens one link to that owner, forwards its editors' ops and
// presence over it, and fans what comes back out to them; when the owner
// goes, one of them takes the lease over and the others link to it.
type Cluster struct {
	Store    store.Cluster
	NodeID   string        // this node, unique in the cluster
	URL      string        // how the other nodes reach this one (http or https)
	Secret   string        // shared by every node; authenticates links
	LeaseTTL time.Duration // a lease lapses this long after its last renewal
}

// Validate checks that the settings can work.
func (c Cluster) Validate() error {
	switch {
	case c.Store == nil:
		return errors.New("cluster: no lease store")
	case c.NodeID == "" || !store.Storable(c.NodeID):
		return errors.New("cluster: a node id is needed")
	case c.URL == "":
		return errors.New("cluster: --advertise-url is needed")
	case len(c.Secret) < 16:
		return errors.New("cluster: --cluster-secret must be at least 16 characters")
	case c.LeaseTTL < 300*time.Millisecond:
		return errors.New("cluster: --lease-ttl must be at least 300ms")
	}
	return nil
}

// clusterState is a hub's part in the cluster.
type clusterState struct {
	Cluster
	secretSum [32]byte
	badSecret rate.Sometimes // logs refused links now and then, not each one
}

// JoinCluster makes the hub one node of a cluster: it registers the node
// and, until Close, renews the leases of the documents it owns every
// LeaseTTL/3. Call it before serving.
func (h *Hub) JoinCluster(ctx context.Context, c Cluster) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := c.Store.RegisterNode(ctx, c.NodeID, c.URL); err != nil {
		return fmt.Errorf("join the cluster: %w", err)
	}
	h.cluster = &clusterState{Cluster: c, secretSum: sha256.Sum256([]byte(c.Secret)), badSecret: rate.Sometimes{First: 1, Interval: time.Minute}}
	h.renewer.Go(h.renewLeases)
	h.log.Info("joined the cluster", "node", c.NodeID, "url", c.URL, "lease_ttl", c.LeaseTTL)
	return nil
}

// secretOK reports whether a link's secret is the cluster's, in constant
// time.
func (c *clusterState) secretOK(secret string) bool {
	sum := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(sum[:], c.secretSum[:]) == 1
}

// renewLeases renews every lease this node holds, in one statement, every
// LeaseTTL/3 until the hub closes, and tells each owning room whether its
// lease is still held: a room whose lease is gone stops sequencing.
func (h *Hub) renewLeases() {
	c := h.cluster
	tick := time.NewTicker(c.LeaseTTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(h.ctx, c.LeaseTTL/3)
		started := time.Now()
		held, err := c.Store.RenewLeases(ctx, c.NodeID, c.LeaseTTL)
		cancel()
		if err != nil {
			// The fence keeps this safe: a commit under a lease that
			// lapses meanwhile is refused, and its room steps down.
			if h.ctx.Err() == nil {
				h.log.Warn("lease renewal failed", "err", err)
			}
			continue
		}
		h.metrics.leases.Set(float64(len(held)))
		for _, r := range h.openRooms() {
			q := leaseCheckReq{epoch: held[r.id], asked: started}
			select {
			case r.inbox <- q:
			default: // busy: the next round, or the fence, tells it
			}
		}
	}
}

// leaseCheckReq tells a room the epoch this node holds its document's
// lease at (0: none), as renewed by a statement sent at asked.
type leaseCheckReq struct {
	epoch int64
	asked time.Time
}

func (q leaseCheckReq) handle(r *room) bool {
	// A lease taken after the renewal was sent may not be in its answer.
	if r.lease != nil && r.lease.Epoch != q.epoch && r.leaseSince.Before(q.asked) {
		r.hub.log.Warn("document lease lost; stepping down", "doc", r.id, "epoch", r.lease.Epoch)
		r.stepDown()
	}
	return false
}

// releaseAll gives up this node's leases and leaves the cluster, at
// shutdown, so that other nodes take its documents over at once.
func (h *Hub) releaseAll(ctx context.Context) error {
	if h.cluster == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return h.cluster.Store.ReleaseNode(ctx, h.cluster.NodeID)
}
