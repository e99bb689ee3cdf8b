package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"tandem/store"
)

// SaveVersion implements store.NamedVersions. Saves of one document are
// serialised by an advisory lock (not a row lock on the document, which
// every append takes), so that two at once cannot pass the cap together.
func (db *DB) SaveVersion(ctx context.Context, nv store.NewNamedVersion) (store.NamedVersion, error) {
	if err := store.CheckKeys(nv.DocID); err != nil {
		return store.NamedVersion{}, fmt.Errorf("save version: %w", err)
	}
	if err := errors.Join(store.CheckText("name", nv.Name), store.CheckText("user id", nv.UserID)); err != nil {
		return store.NamedVersion{}, fmt.Errorf("save version: %w", err)
	}
	v := store.NamedVersion{ID: store.NewID(), DocID: nv.DocID, Version: nv.Version, Name: nv.Name, UserID: nv.UserID, CreatedAt: db.now()}
	err := db.inTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('named_versions:' || $1, 0))`, nv.DocID); err != nil {
			return err
		}
		var head, count int64
		err := tx.QueryRow(ctx, `SELECT version, (SELECT count(*) FROM named_versions WHERE doc_id = $1)
			FROM documents WHERE id = $1`, nv.DocID).Scan(&head, &count)
		if err != nil {
			return translate(err)
		}
		if nv.Version < 0 || nv.Version > head {
			return fmt.Errorf("%w: version %d (the document is at %d)", store.ErrInvalid, nv.Version, head)
		}
		if count >= store.MaxNamedVersions {
			return fmt.Errorf("%w: the document has %d named versions already", store.ErrConflict, count)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO named_versions (id, doc_id, version, name, user_id, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, v.ID, v.DocID, v.Version, v.Name, v.UserID, v.CreatedAt); err != nil {
			return translate(err)
		}
		return tx.QueryRow(ctx, `SELECT coalesce((SELECT name FROM users WHERE id = $1), '')`, v.UserID).Scan(&v.UserName)
	})
	if err != nil {
		return store.NamedVersion{}, fmt.Errorf("save version %d of document %s: %w", nv.Version, nv.DocID, err)
	}
	return v, nil
}

const namedVersionColumns = `v.id, v.doc_id, v.version, v.name, v.user_id, coalesce(u.name, ''), v.created_at`

func scanNamedVersion(row pgx.Row) (store.NamedVersion, error) {
	var v store.NamedVersion
	err := row.Scan(&v.ID, &v.DocID, &v.Version, &v.Name, &v.UserID, &v.UserName, &v.CreatedAt)
	return v, err
}

// NamedVersions implements store.NamedVersions.
func (db *DB) NamedVersions(ctx context.Context, docID string) ([]store.NamedVersion, error) {
	if err := store.CheckKeys(docID); err != nil {
		return nil, fmt.Errorf("named versions: %w", err)
	}
	var out []store.NamedVersion
	err := db.inTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := document(ctx, tx, docID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+namedVersionColumns+` FROM named_versions v LEFT JOIN users u ON u.id = v.user_id
			WHERE v.doc_id = $1 ORDER BY v.created_at DESC, v.version DESC, v.id`, docID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.NamedVersion, error) { return scanNamedVersion(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("named versions of document %s: %w", docID, translate(err))
	}
	return out, nil
}

// NamedVersion implements store.NamedVersions.
func (db *DB) NamedVersion(ctx context.Context, docID, id string) (store.NamedVersion, error) {
	if err := store.CheckKeys(docID, id); err != nil {
		return store.NamedVersion{}, fmt.Errorf("named version: %w", err)
	}
	v, err := scanNamedVersion(db.pool.QueryRow(ctx, `SELECT `+namedVersionColumns+`
		FROM named_versions v LEFT JOIN users u ON u.id = v.user_id WHERE v.doc_id = $1 AND v.id = $2`, docID, id))
	if err != nil {
		return store.NamedVersion{}, fmt.Errorf("named version %s of document %s: %w", id, docID, translate(err))
	}
	return v, nil
}

// DeleteNamedVersion implements store.NamedVersions.
func (db *DB) DeleteNamedVersion(ctx context.Context, docID, id string) error {
	if err := store.CheckKeys(docID, id); err != nil {
		return fmt.Errorf("delete named version: %w", err)
	}
	tag, err := db.pool.Exec(ctx, `DELETE FROM named_versions WHERE doc_id = $1 AND id = $2`, docID, id)
	if err != nil {
		return fmt.Errorf("delete named version %s of document %s: %w", id, docID, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete named version %s of document %s: %w", id, docID, store.ErrNotFound)
	}
	return nil
}

// UserNames implements store.Users.
func (db *DB) UserNames(ctx context.Context, ids []string) (map[string]string, error) {
	keys := make([]string, 0, len(ids))
	for _, id := range ids {
		if store.Storable(id) {
			keys = append(keys, id)
		}
	}
	names := make(map[string]string, len(keys))
	if len(keys) == 0 {
		return names, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT id, name FROM users WHERE id = ANY($1)`, keys)
	if err != nil {
		return nil, fmt.Errorf("user names: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, fmt.Errorf("user names: %w", err)
		}
		names[id] = name
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("user names: %w", translate(err))
	}
	return names, nil
}
