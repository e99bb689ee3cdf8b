package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"tandem/ot"
	"tandem/store"
)

// AppendOps implements store.History. Appends from every document are
// group-committed: the committer goroutine writes all that are waiting in
// one transaction, each under its own savepoint so that one that fails
// leaves the others, and answers each once the transaction is durable. With
// one writer and an fsync per commit, that is what lets a thousand busy
// documents share the file.
func (db *DB) AppendOps(ctx context.Context, docID string, head int64, ops []store.NewOp) error {
	if err := store.CheckKeys(docID); err != nil {
		return fmt.Errorf("append: %w", err)
	}
	if err := store.CheckBatch(ops); err != nil {
		return fmt.Errorf("append to document %s: %w", docID, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	req := appendReq{ctx: ctx, docID: docID, head: head, ops: ops, done: make(chan error, 1)}
	if err := db.committer.Do(ctx, req, req.done); err != nil {
		return fmt.Errorf("append %d ops to document %s at version %d: %w", len(ops), docID, head, err)
	}
	return nil
}

// appendReq is one AppendOps waiting for the committer.
type appendReq struct {
	ctx   context.Context
	docID string
	head  int64
	ops   []store.NewOp
	done  chan error
}

// maxGroup bounds the appends in one group commit.
const maxGroup = 256

// commitGroup writes a group of appends in one transaction and answers each.
func (db *DB) commitGroup(group []appendReq) {
	errs := make([]error, len(group))
	now := millis(db.now())
	ctx := context.Background()
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for i, req := range group {
			if err := req.ctx.Err(); err != nil {
				errs[i] = err
				continue
			}
			if _, err := tx.ExecContext(ctx, `SAVEPOINT append`); err != nil {
				return err
			}
			errs[i] = db.appendInTx(ctx, tx, req.docID, req.head, req.ops, now)
			undo := `RELEASE append`
			if errs[i] != nil {
				undo = `ROLLBACK TO append; RELEASE append`
			}
			if _, err := tx.ExecContext(ctx, undo); err != nil {
				return err
			}
		}
		return nil
	})
	for i, req := range group {
		if errs[i] == nil {
			errs[i] = err
		}
		req.done <- errs[i]
	}
}

// appendInTx stores one batch at head within the committer's transaction.
func (db *DB) appendInTx(ctx context.Context, tx *sql.Tx, docID string, head int64, ops []store.NewOp, now int64) error {
	var version int64
	if err := tx.QueryRowContext(ctx, `SELECT version FROM documents WHERE id = ?`, docID).Scan(&version); err != nil {
		return fmt.Errorf("document: %w", translate(err))
	}
	if version != head {
		// A re-sent op is reported whatever the head, so that it learns
		// its version.
		if err := duplicate(ctx, tx, docID, ops); err != nil {
			return err
		}
		return fmt.Errorf("%w: document is at version %d", store.ErrConflict, version)
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO operations (doc_id, version, op_id, user_id, op, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for i, op := range ops {
		_, err := stmt.ExecContext(ctx, docID, head+int64(i)+1, op.ID, op.UserID, op.Op.String(), now)
		if isUnique(err, "operations.doc_id, operations.user_id, operations.op_id") {
			if err := duplicate(ctx, tx, docID, ops); err != nil {
				return err
			}
		}
		if err != nil {
			return translate(err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE documents SET version = ?, updated_at = ? WHERE id = ?`,
		head+int64(len(ops)), now, docID); err != nil {
		return err
	}
	for _, v := range store.SnapshotsDue(head, len(ops), db.snapshotEvery) {
		if err := snapshot(ctx, tx, docID, v, now); err != nil {
			return err
		}
	}
	return nil
}

// duplicate returns a *store.DuplicateError if one of ops' (author, id)
// pairs is already stored, and nil if none is.
func duplicate(ctx context.Context, q querier, docID string, ops []store.NewOp) error {
	args := make([]any, 0, 2*len(ops)+1)
	args = append(args, docID)
	for _, op := range ops {
		args = append(args, op.UserID, op.ID)
	}
	dup := store.DuplicateError{DocID: docID}
	err := q.QueryRowContext(ctx, `SELECT user_id, op_id, version FROM operations WHERE doc_id = ? AND (`+
		strings.Repeat("(user_id = ? AND op_id = ?) OR ", len(ops)-1)+`(user_id = ? AND op_id = ?))
		ORDER BY version LIMIT 1`, args...).Scan(&dup.UserID, &dup.OpID, &dup.Version)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("look for duplicates: %w", err)
	}
	return &dup
}

// snapshot saves the content at version, built from the snapshot before it.
func snapshot(ctx context.Context, tx *sql.Tx, docID string, version, now int64) error {
	c, err := contentAt(ctx, tx, docID, version)
	if err != nil {
		return fmt.Errorf("snapshot at %d: %w", version, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO snapshots (doc_id, version, content, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT DO NOTHING`, docID, version, c.Text, now)
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
	recs, err := ops(ctx, db.read, docID, from, to, page)
	if err == nil && len(recs) == 0 {
		_, err = db.Document(ctx, docID)
	}
	if err != nil {
		return nil, fmt.Errorf("ops of document %s: %w", docID, err)
	}
	return recs, nil
}

// ops reads a page of operations. The byte bound is applied in the query
// (a running sum over the rows the limit admits), so rows past it are never
// read out.
func ops(ctx context.Context, q querier, docID string, from, to int64, page store.Page) ([]store.OpRecord, error) {
	limit := page.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := q.QueryContext(ctx, `SELECT version, op_id, user_id, op, created_at FROM (
			SELECT version, op_id, user_id, op, created_at,
				sum(length(CAST(op AS BLOB))) OVER (ORDER BY version) - length(CAST(op AS BLOB)) AS before
			FROM (SELECT version, op_id, user_id, op, created_at FROM operations
				WHERE doc_id = ? AND version BETWEEN ? AND ? ORDER BY version LIMIT ?)
		)
		WHERE ? <= 0 OR before < ? ORDER BY version`, docID, from, to, limit, page.MaxBytes, page.MaxBytes)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r scanner) (store.OpRecord, error) {
		var rec store.OpRecord
		var wire string
		var created int64
		if err := r.Scan(&rec.Version, &rec.ID, &rec.UserID, &wire, &created); err != nil {
			return rec, err
		}
		rec.Time = fromMillis(created)
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
	err := db.inReadTx(ctx, func(tx *sql.Tx) error {
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
	err := db.inReadTx(ctx, func(tx *sql.Tx) error {
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
	err := q.QueryRowContext(ctx, `SELECT version, content FROM snapshots WHERE doc_id = ? AND version <= ?
		ORDER BY version DESC LIMIT 1`, docID, version).Scan(&snap.Version, &snap.Text)
	if err != nil {
		return store.Content{}, fmt.Errorf("snapshot: %w", translate(err))
	}
	// A snapshot written before U+0000 was refused may hold it; it reads
	// as U+FFFD, as ot.ParseStored reads the ops (one code point for one).
	snap.Text = strings.ReplaceAll(snap.Text, "\x00", "\uFFFD")
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
	err := db.read.QueryRowContext(ctx, `SELECT version FROM operations WHERE doc_id = ? AND user_id = ? AND op_id = ?`,
		docID, userID, id).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("op %q of document %s: %w", id, docID, translate(err))
	}
	return v, nil
}
