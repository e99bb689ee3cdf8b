package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"tandem/ot"
	"tandem/store"
)

const docColumns = `d.id, d.title, d.version, d.created_by, d.created_at, d.updated_at`

func scanDoc(row pgx.Row, extra ...any) (store.Document, error) {
	var d store.Document
	err := row.Scan(append([]any{&d.ID, &d.Title, &d.Version, &d.CreatedBy, &d.CreatedAt, &d.UpdatedAt}, extra...)...)
	return d, err
}

// CreateDocument implements store.Documents.
func (db *DB) CreateDocument(ctx context.Context, nd store.NewDocument) (store.Document, error) {
	if err := errors.Join(store.CheckKeys(nd.OwnerID), store.CheckText("title", nd.Title)); err != nil {
		return store.Document{}, fmt.Errorf("create document: %w", err)
	}
	if err := ot.CheckText(nd.Content); err != nil {
		return store.Document{}, fmt.Errorf("create document: %w: %w", store.ErrInvalid, err)
	}
	if nd.ID == "" {
		nd.ID = store.NewID()
	} else if err := store.CheckText("document id", nd.ID); err != nil {
		return store.Document{}, fmt.Errorf("create document: %w", err)
	}
	now := db.now()
	d := store.Document{ID: nd.ID, Title: nd.Title, CreatedBy: nd.OwnerID, CreatedAt: now, UpdatedAt: now}
	err := db.inTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO documents (id, title, version, created_by, created_at, updated_at) VALUES ($1, $2, 0, $3, $4, $4)`,
			d.ID, d.Title, d.CreatedBy, now)
		b.Queue(`INSERT INTO members (doc_id, user_id, role) VALUES ($1, $2, 'owner')`, d.ID, nd.OwnerID)
		b.Queue(`INSERT INTO snapshots (doc_id, version, content, created_at) VALUES ($1, 0, $2, $3)`, d.ID, nd.Content, now)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return store.Document{}, fmt.Errorf("create document for user %s: %w", nd.OwnerID, translate(err))
	}
	return d, nil
}

// Document implements store.Documents.
func (db *DB) Document(ctx context.Context, id string) (store.Document, error) {
	if err := store.CheckKeys(id); err != nil {
		return store.Document{}, fmt.Errorf("document: %w", err)
	}
	return document(ctx, db.pool, id)
}

func document(ctx context.Context, q querier, id string) (store.Document, error) {
	d, err := scanDoc(q.QueryRow(ctx, `SELECT `+docColumns+` FROM documents d WHERE d.id = $1`, id))
	if err != nil {
		return store.Document{}, fmt.Errorf("document %s: %w", id, translate(err))
	}
	return d, nil
}

// ListDocuments implements store.Documents.
func (db *DB) ListDocuments(ctx context.Context, userID string) ([]store.DocumentAccess, error) {
	if err := store.CheckKeys(userID); err != nil {
		return nil, nil // no user has that id
	}
	rows, err := db.pool.Query(ctx, `SELECT `+docColumns+`, m.role FROM documents d
		JOIN members m ON m.doc_id = d.id WHERE m.user_id = $1
		ORDER BY d.updated_at DESC, d.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list documents: %w", err)
	}
	docs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.DocumentAccess, error) {
		var a store.DocumentAccess
		var err error
		a.Document, err = scanDoc(r, &a.Role)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("list documents: %w", err)
	}
	return docs, nil
}

// RenameDocument implements store.Documents.
func (db *DB) RenameDocument(ctx context.Context, id, title string) (store.Document, error) {
	if err := errors.Join(store.CheckKeys(id), store.CheckText("title", title)); err != nil {
		return store.Document{}, fmt.Errorf("rename document: %w", err)
	}
	d, err := scanDoc(db.pool.QueryRow(ctx, `UPDATE documents d SET title = $2, updated_at = $3 WHERE d.id = $1
		RETURNING `+docColumns, id, title, db.now()))
	if err != nil {
		return store.Document{}, fmt.Errorf("rename document %s: %w", id, translate(err))
	}
	return d, nil
}

// DeleteDocument implements store.Documents.
func (db *DB) DeleteDocument(ctx context.Context, id string) error {
	if err := store.CheckKeys(id); err != nil {
		return fmt.Errorf("delete document: %w", err)
	}
	tag, err := db.pool.Exec(ctx, `DELETE FROM documents WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete document %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete document %s: %w", id, store.ErrNotFound)
	}
	return nil
}
