package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tandem/ot"
	"tandem/store"
)

// appendSQL moves the document's version from head to head+n and inserts the
// n operations in one statement: one round trip, atomic. If the version is no
// longer head, the UPDATE matches no row and nothing is inserted; a concurrent
// writer at the same head waits on the row lock and then finds the version
// moved. Made under a lease ($7 the node, $8 the epoch; NULL for none), it
// also needs the lease held at that epoch, unexpired: the lease row is read
// FOR SHARE, so a node taking the lease over waits for this statement's
// transaction, and then loads a document that has these ops.
const appendSQL = `WITH lease AS (
	SELECT 1 FROM doc_leases
	WHERE doc_id = $1 AND node_id = $7 AND epoch = $8 AND expires_at > now()
	FOR SHARE
), head AS (
	UPDATE documents SET version = $2 + cardinality($3::text[]), updated_at = $6
	WHERE id = $1 AND version = $2 AND ($7::text IS NULL OR EXISTS (SELECT 1 FROM lease))
	RETURNING id
)
INSERT INTO operations (doc_id, version, op_id, user_id, op, created_at)
SELECT head.id, $2 + o.ord, o.op_id, o.user_id, o.op, $6
FROM head, unnest($3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS o(op_id, user_id, op, ord)`

// AppendOps implements store.History.
func (db *DB) AppendOps(ctx context.Context, docID string, head int64, ops []store.NewOp) error {
	return db.appendOps(ctx, docID, nil, head, ops)
}

// appendOps is AppendOps, made under lease unless it is nil.
func (db *DB) appendOps(ctx context.Context, docID string, lease *store.Lease, head int64, ops []store.NewOp) error {
	if err := store.CheckKeys(docID); err != nil {
		return fmt.Errorf("append: %w", err)
	}
	if err := store.CheckBatch(ops); err != nil {
		return fmt.Errorf("append to document %s: %w", docID, err)
	}
	ids := make([]string, len(ops))
	users := make([]string, len(ops))
	wires := make([]string, len(ops))
	for i, op := range ops {
		ids[i], users[i], wires[i] = op.ID, op.UserID, op.Op.String()
	}
	due := store.SnapshotsDue(head, len(ops), db.snapshotEvery)
	if snaps, ok := givenSnapshots(head, ops, due); ok {
		// The common case: group-committed with other documents' appends,
		// with the snapshots due if the writer gave their text.
		return db.commit(appendReq{ctx: ctx, docID: docID, lease: lease, head: head, ids: ids, users: users, wires: wires, snaps: snaps})
	}
	// A snapshot is due: its own transaction, as it reads what it appends.
	now := db.now()
	err := db.inTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if err := appendBatch(ctx, tx, appendReq{docID: docID, lease: lease, head: head, ids: ids, users: users, wires: wires}, now); err != nil {
			return err
		}
		for _, v := range due {
			if err := db.snapshot(ctx, tx, docID, v); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errNotStored) {
		// Diagnosed outside any transaction: a failed one cannot be read
		// from, and holding its connection while taking another could
		// exhaust the pool.
		err = db.whyNotStored(ctx, docID, lease, users, ids)
	}
	if err != nil {
		return fmt.Errorf("append %d ops to document %s at version %d: %w", len(ops), docID, head, err)
	}
	return nil
}

// errNotStored says that appendBatch stored nothing, for a reason that
// whyNotStored finds out.
var errNotStored = errors.New("nothing stored")

func appendBatch(ctx context.Context, q querier, r appendReq, now time.Time) error {
	tag, err := q.Exec(ctx, appendSQL, r.args(now)...)
	switch {
	case isUnique(err, "operations_doc_id_user_id_op_id_key"):
		return errNotStored
	case err != nil:
		return translate(err)
	case tag.RowsAffected() != int64(len(r.ids)):
		return errNotStored
	}
	return nil
}

// whyNotStored explains an append that stored nothing: the document is gone,
// the lease it was made under is lost, an op id is already stored (reported
// whatever the head, so a re-send learns its version), or the version moved
// on.
func (db *DB) whyNotStored(ctx context.Context, docID string, lease *store.Lease, users, ids []string) error {
	var version int64
	if err := db.pool.QueryRow(ctx, `SELECT version FROM documents WHERE id = $1`, docID).Scan(&version); err != nil {
		return fmt.Errorf("document: %w", translate(err))
	}
	if lease != nil {
		held, err := leaseHeld(ctx, db.pool, lease)
		if err != nil {
			return err
		}
		if !held {
			return fmt.Errorf("%w: epoch %d of node %s", store.ErrFenced, lease.Epoch, lease.NodeID)
		}
	}
	dup := store.DuplicateError{DocID: docID}
	err := db.pool.QueryRow(ctx, `SELECT user_id, op_id, version FROM operations
		WHERE doc_id = $1 AND (user_id, op_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))
		ORDER BY version LIMIT 1`, docID, users, ids).Scan(&dup.UserID, &dup.OpID, &dup.Version)
	if err == nil {
		return &dup
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("look for duplicates: %w", err)
	}
	return fmt.Errorf("%w: document is at version %d", store.ErrConflict, version)
}

// givenSnapshot is a snapshot whose text the writer gave (store.NewOp.After).
type givenSnapshot struct {
	version      int64
	text         string
	user, authID string // the op that made the version: the snapshot is written only if it was stored
}

// givenSnapshots returns the snapshots due in an append of ops at head, if
// the writer gave the text of every one (none due is a yes too).
func givenSnapshots(head int64, ops []store.NewOp, due []int64) ([]givenSnapshot, bool) {
	var snaps []givenSnapshot
	for _, v := range due {
		op := ops[v-head-1]
		if op.After == nil {
			return nil, false
		}
		snaps = append(snaps, givenSnapshot{version: v, text: *op.After, user: op.UserID, authID: op.ID})
	}
	return snaps, true
}

// givenSnapshotSQL writes a given snapshot in the append's own batch: only
// if the op it follows is stored at its version (an append that stored
// nothing, the version having moved on, writes no snapshot either).
const givenSnapshotSQL = `INSERT INTO snapshots (doc_id, version, content, created_at)
SELECT $1, $2, $3, $4 WHERE EXISTS (
	SELECT 1 FROM operations WHERE doc_id = $1 AND version = $2 AND user_id = $5 AND op_id = $6)
ON CONFLICT DO NOTHING`

// snapshot saves the content at version, built from the snapshot before it.
func (db *DB) snapshot(ctx context.Context, tx pgx.Tx, docID string, version int64) error {
	c, err := contentAt(ctx, tx, docID, version)
	if err != nil {
		return fmt.Errorf("snapshot at %d: %w", version, err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO snapshots (doc_id, version, content, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING`, docID, version, c.Text, db.now())
	if err != nil {
		return fmt.Errorf("snapshot at %d: %w", version, err)
	}
	return nil
}

// Ops implements store.History.
func (db *DB) Ops(ctx context.Context, docID string, from, to int64, page store.Page) ([]store.OpRecord, error) {
	if err := store.CheckKeys(docID); err != nil {
		return nil, fmt.Errorf("ops: %w", err)
	}
	recs, err := ops(ctx, db.pool, docID, from, to, page)
	if err == nil && len(recs) == 0 {
		_, err = db.Document(ctx, docID)
	}
	if err != nil {
		return nil, fmt.Errorf("ops of document %s: %w", docID, err)
	}
	return recs, nil
}

// ops reads a page of operations. The byte bound is applied in the query
// (a running sum over the rows the limit admits), so rows past it never
// leave the database.
func ops(ctx context.Context, q querier, docID string, from, to int64, page store.Page) ([]store.OpRecord, error) {
	rows, err := q.Query(ctx, `SELECT version, op_id, user_id, op, created_at FROM (
			SELECT version, op_id, user_id, op, created_at,
				sum(octet_length(op)) OVER (ORDER BY version) - octet_length(op) AS before
			FROM (SELECT version, op_id, user_id, op, created_at FROM operations
				WHERE doc_id = $1 AND version BETWEEN $2 AND $3 ORDER BY version
				LIMIT CASE WHEN $4::int <= 0 THEN NULL ELSE $4::int END) AS limited
		) AS sized
		WHERE $5::bigint <= 0 OR before < $5::bigint ORDER BY version`, docID, from, to, page.Limit, page.MaxBytes)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.OpRecord, error) {
		var rec store.OpRecord
		var wire string
		if err := r.Scan(&rec.Version, &rec.ID, &rec.UserID, &wire, &rec.Time); err != nil {
			return rec, err
		}
		// ParseStored: ops stored before U+0000 was refused still read.
		op, err := ot.ParseStored([]byte(wire))
		if err != nil {
			return rec, fmt.Errorf("stored op at version %d: %w", rec.Version, err)
		}
		rec.Op = op
		return rec, nil
	})
}

// ContentAt implements store.History.
func (db *DB) ContentAt(ctx context.Context, docID string, version int64) (store.Content, error) {
	if err := store.CheckKeys(docID); err != nil {
		return store.Content{}, fmt.Errorf("content: %w", err)
	}
	var c store.Content
	err := db.inTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		d, err := document(ctx, tx, docID)
		if err != nil {
			return err
		}
		if version < 0 || version > d.Version {
			return fmt.Errorf("%w: version %d (document is at %d)", store.ErrNotFound, version, d.Version)
		}
		c, err = contentAt(ctx, tx, docID, version)
		return err
	})
	if err != nil {
		return store.Content{}, fmt.Errorf("content of document %s: %w", docID, err)
	}
	return c, nil
}

// Load implements store.History.
func (db *DB) Load(ctx context.Context, docID string) (store.Document, store.Content, error) {
	if err := store.CheckKeys(docID); err != nil {
		return store.Document{}, store.Content{}, fmt.Errorf("load document: %w", err)
	}
	var d store.Document
	var c store.Content
	err := db.inTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if d, err = document(ctx, tx, docID); err != nil {
			return err
		}
		c, err = contentAt(ctx, tx, docID, d.Version)
		return err
	})
	if err != nil {
		return store.Document{}, store.Content{}, fmt.Errorf("load document %s: %w", docID, err)
	}
	return d, c, nil
}

// contentAt builds the text at version from the nearest snapshot at or before
// it and the operations after that snapshot.
func contentAt(ctx context.Context, q querier, docID string, version int64) (store.Content, error) {
	var snap store.Content
	err := q.QueryRow(ctx, `SELECT version, content FROM snapshots WHERE doc_id = $1 AND version <= $2
		ORDER BY version DESC LIMIT 1`, docID, version).Scan(&snap.Version, &snap.Text)
	if err != nil {
		return store.Content{}, fmt.Errorf("snapshot: %w", translate(err))
	}
	if snap.Version == version {
		return snap, nil
	}
	recs, err := ops(ctx, q, docID, snap.Version+1, version, store.Page{})
	if err != nil {
		return store.Content{}, fmt.Errorf("ops after snapshot %d: %w", snap.Version, err)
	}
	return store.ReplayTo(snap, recs, version)
}

// OpVersion implements store.History, on the unique key of (document,
// author, op id).
func (db *DB) OpVersion(ctx context.Context, docID, userID, id string) (int64, error) {
	if err := store.CheckKeys(docID, userID, id); err != nil {
		return 0, fmt.Errorf("op version: %w", err)
	}
	var v int64
	err := db.pool.QueryRow(ctx, `SELECT version FROM operations WHERE doc_id = $1 AND user_id = $2 AND op_id = $3`,
		docID, userID, id).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("op %q of document %s: %w", id, docID, translate(err))
	}
	return v, nil
}
