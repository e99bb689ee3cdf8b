package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tandem/store"
)

var _ store.Cluster = (*DB)(nil)

// Every time below is the database's: now() is the start of the statement's
// transaction on the server, so nodes whose clocks disagree still agree on
// who holds what.

// RegisterNode implements store.Cluster.
func (db *DB) RegisterNode(ctx context.Context, nodeID, url string) error {
	if err := store.CheckKeys(nodeID, url); err != nil {
		return fmt.Errorf("register node: %w", err)
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO nodes (node_id, url, heartbeat_at) VALUES ($1, $2, now())
		ON CONFLICT (node_id) DO UPDATE SET url = excluded.url, heartbeat_at = excluded.heartbeat_at`, nodeID, url)
	if err != nil {
		return fmt.Errorf("register node %s: %w", nodeID, translate(err))
	}
	return nil
}

// Nodes implements store.Cluster.
func (db *DB) Nodes(ctx context.Context, within time.Duration) ([]store.Node, error) {
	rows, err := db.pool.Query(ctx, `SELECT node_id, url, heartbeat_at FROM nodes
		WHERE heartbeat_at > now() - $1::bigint * interval '1 microsecond' ORDER BY node_id`, within.Microseconds())
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	nodes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Node, error) {
		var n store.Node
		err := r.Scan(&n.ID, &n.URL, &n.Heartbeat)
		return n, err
	})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return nodes, nil
}

// acquireSQL takes the lease if it is free or the caller's, and returns the
// lease as it stands either way, with its holder's URL. The second SELECT
// is read only when the first took nothing, and sees the table as it was
// when the statement began: a lease another node took since is not in it
// (nor is the expired one it replaced), and then no row comes back.
const acquireSQL = `WITH taken AS (
	INSERT INTO doc_leases AS l (doc_id, node_id, epoch, expires_at)
	VALUES ($1, $2, 1, now() + $3::bigint * interval '1 microsecond')
	ON CONFLICT (doc_id) DO UPDATE
		SET node_id = excluded.node_id, epoch = l.epoch + 1, expires_at = excluded.expires_at
		WHERE l.expires_at <= now() OR l.node_id = excluded.node_id
	RETURNING node_id, epoch, expires_at
), lease AS (
	SELECT node_id, epoch, expires_at FROM taken
	UNION ALL
	SELECT node_id, epoch, expires_at FROM doc_leases
	WHERE doc_id = $1 AND expires_at > now() AND NOT EXISTS (SELECT 1 FROM taken)
)
SELECT lease.node_id, lease.epoch, lease.expires_at, coalesce(nodes.url, '')
FROM lease LEFT JOIN nodes USING (node_id)`

// AcquireLease implements store.Cluster.
func (db *DB) AcquireLease(ctx context.Context, docID, nodeID string, ttl time.Duration) (store.Lease, error) {
	if err := store.CheckKeys(docID, nodeID); err != nil {
		return store.Lease{}, fmt.Errorf("acquire lease: %w", err)
	}
	l := store.Lease{DocID: docID}
	// A lease another node holds is only read: the upsert below would lock
	// its row even when it takes nothing, and hold up its holder's appends.
	err := db.pool.QueryRow(ctx, `SELECT l.node_id, l.epoch, l.expires_at, coalesce(n.url, '')
		FROM doc_leases l LEFT JOIN nodes n USING (node_id)
		WHERE l.doc_id = $1 AND l.expires_at > now() AND l.node_id <> $2`, docID, nodeID).Scan(&l.NodeID, &l.Epoch, &l.Expires, &l.URL)
	if err == nil {
		return l, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return store.Lease{}, fmt.Errorf("acquire lease of document %s: %w", docID, translate(err))
	}
	// A holder that committed after the statement began is neither taken
	// over nor seen: no row comes back, and the statement runs again.
	for range 5 {
		err := db.pool.QueryRow(ctx, acquireSQL, docID, nodeID, ttl.Microseconds()).Scan(&l.NodeID, &l.Epoch, &l.Expires, &l.URL)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return store.Lease{}, fmt.Errorf("acquire lease of document %s: %w", docID, translate(err))
		}
		return l, nil
	}
	return store.Lease{}, fmt.Errorf("acquire lease of document %s: %w: it kept changing hands", docID, store.ErrConflict)
}

// RenewLeases implements store.Cluster.
func (db *DB) RenewLeases(ctx context.Context, nodeID string, ttl time.Duration) (map[string]int64, error) {
	// The rows are locked in document order, as appends lock them (a
	// group commit goes in document order): in any other order a renewal
	// and a group commit could each hold a lease the other waits for.
	rows, err := db.pool.Query(ctx, `WITH beat AS (
			UPDATE nodes SET heartbeat_at = now() WHERE node_id = $1
		), mine AS (
			SELECT doc_id FROM doc_leases WHERE node_id = $1 AND expires_at > now()
			ORDER BY doc_id COLLATE "C" FOR NO KEY UPDATE
		)
		UPDATE doc_leases l SET expires_at = now() + $2::bigint * interval '1 microsecond'
		FROM mine WHERE l.doc_id = mine.doc_id AND l.node_id = $1 AND l.expires_at > now()
		RETURNING l.doc_id, l.epoch`, nodeID, ttl.Microseconds())
	if err != nil {
		return nil, fmt.Errorf("renew leases: %w", err)
	}
	held := make(map[string]int64)
	var doc string
	var epoch int64
	_, err = pgx.ForEachRow(rows, []any{&doc, &epoch}, func() error {
		held[doc] = epoch
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("renew leases: %w", err)
	}
	return held, nil
}

// ReleaseLease implements store.Cluster. The row stays, expired, so that
// the next holder's epoch is still higher than every earlier one.
func (db *DB) ReleaseLease(ctx context.Context, l store.Lease) error {
	_, err := db.pool.Exec(ctx, `UPDATE doc_leases SET expires_at = 'epoch'
		WHERE doc_id = $1 AND node_id = $2 AND epoch = $3`, l.DocID, l.NodeID, l.Epoch)
	if err != nil {
		return fmt.Errorf("release lease of document %s: %w", l.DocID, err)
	}
	return nil
}

// ReleaseNode implements store.Cluster.
func (db *DB) ReleaseNode(ctx context.Context, nodeID string) error {
	_, err := db.pool.Exec(ctx, `WITH gone AS (DELETE FROM nodes WHERE node_id = $1), mine AS (
			SELECT doc_id FROM doc_leases WHERE node_id = $1 ORDER BY doc_id COLLATE "C" FOR NO KEY UPDATE
		)
		UPDATE doc_leases l SET expires_at = 'epoch' FROM mine WHERE l.doc_id = mine.doc_id AND l.node_id = $1`, nodeID)
	if err != nil {
		return fmt.Errorf("release node %s: %w", nodeID, err)
	}
	return nil
}

// AppendOpsUnder implements store.Cluster.
func (db *DB) AppendOpsUnder(ctx context.Context, l store.Lease, head int64, ops []store.NewOp) error {
	return db.appendOps(ctx, l.DocID, &l, head, ops)
}

// leaseHeld reports whether l is still held, unexpired, at its epoch.
func leaseHeld(ctx context.Context, q querier, l *store.Lease) (bool, error) {
	var held bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM doc_leases
		WHERE doc_id = $1 AND node_id = $2 AND epoch = $3 AND expires_at > now())`, l.DocID, l.NodeID, l.Epoch).Scan(&held)
	if err != nil {
		return false, fmt.Errorf("check lease: %w", err)
	}
	return held, nil
}
