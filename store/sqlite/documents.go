package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"tandem/ot"
	"tandem/store"
)

// docColumns reads a document aliased d; RETURNING (which takes no alias in
// SQLite) uses returnDocColumns.
const (
	docColumns       = `d.id, d.title, d.version, d.created_by, d.created_at, d.updated_at`
	returnDocColumns = `id, title, version, created_by, created_at, updated_at`
)

func scanDoc(row scanner, extra ...any) (store.Document, error) {
	var d store.Document
	var created, updated int64
	err := row.Scan(append([]any{&d.ID, &d.Title, &d.Version, &d.CreatedBy, &created, &updated}, extra...)...)
	d.CreatedAt, d.UpdatedAt = fromMillis(created), fromMillis(updated)
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
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO documents (id, title, version, created_by, created_at, updated_at)
			VALUES (?, ?, 0, ?, ?, ?)`, d.ID, d.Title, d.CreatedBy, millis(now), millis(now)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO members (doc_id, user_id, role) VALUES (?, ?, 'owner')`, d.ID, nd.OwnerID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO snapshots (doc_id, version, content, created_at) VALUES (?, 0, ?, ?)`,
			d.ID, nd.Content, millis(now))
		return err
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
	return document(ctx, db.read, id)
}

func document(ctx context.Context, q querier, id string) (store.Document, error) {
	d, err := scanDoc(q.QueryRowContext(ctx, `SELECT `+docColumns+` FROM documents d WHERE d.id = ?`, id))
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
	rows, err := db.read.QueryContext(ctx, `SELECT `+docColumns+`, m.role FROM documents d
		JOIN members m ON m.doc_id = d.id WHERE m.user_id = ?
		ORDER BY d.updated_at DESC, d.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list documents: %w", err)
	}
	docs, err := collect(rows, func(r scanner) (store.DocumentAccess, error) {
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
	d, err := scanDoc(db.write.QueryRowContext(ctx, `UPDATE documents SET title = ?, updated_at = ? WHERE id = ?
		RETURNING `+returnDocColumns, title, millis(db.now()), id))
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
	res, err := db.write.ExecContext(ctx, `DELETE FROM documents WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete document %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete document %s: %w", id, store.ErrNotFound)
	}
	return nil
}
