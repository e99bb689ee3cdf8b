package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"tandem/store"
)

// Role implements store.Members.
func (db *DB) Role(ctx context.Context, docID, userID string) (store.Role, error) {
	if err := store.CheckKeys(docID, userID); err != nil {
		return "", fmt.Errorf("role: %w", err)
	}
	var role store.Role
	err := db.pool.QueryRow(ctx, `SELECT role FROM members WHERE doc_id = $1 AND user_id = $2`, docID, userID).Scan(&role)
	if err != nil {
		return "", fmt.Errorf("role of user %s on document %s: %w", userID, docID, translate(err))
	}
	return role, nil
}

// ListMembers implements store.Members.
func (db *DB) ListMembers(ctx context.Context, docID string) ([]store.Member, error) {
	if err := store.CheckKeys(docID); err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	var members []store.Member
	err := db.inTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := document(ctx, tx, docID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT u.id, u.email, u.name, m.role FROM members m
			JOIN users u ON u.id = m.user_id WHERE m.doc_id = $1
			ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'editor' THEN 1 ELSE 2 END, u.name, u.id`, docID)
		if err != nil {
			return err
		}
		members, err = pgx.CollectRows(rows, pgx.RowToStructByPos[store.Member])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	return members, nil
}

// SetMember implements store.Members.
func (db *DB) SetMember(ctx context.Context, docID, userID string, role store.Role) error {
	if err := store.CheckKeys(docID, userID); err != nil {
		return fmt.Errorf("set member: %w", err)
	}
	if !role.Valid() {
		return fmt.Errorf("set member: %w: unknown role %q", store.ErrInvalid, role)
	}
	err := db.inTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if err := db.keepAnOwner(ctx, tx, docID, userID, role); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO members (doc_id, user_id, role) VALUES ($1, $2, $3)
			ON CONFLICT (doc_id, user_id) DO UPDATE SET role = EXCLUDED.role`, docID, userID, role)
		return translate(err)
	})
	if err != nil {
		return fmt.Errorf("set member %s of document %s: %w", userID, docID, err)
	}
	return nil
}

// RemoveMember implements store.Members.
func (db *DB) RemoveMember(ctx context.Context, docID, userID string) error {
	if err := store.CheckKeys(docID, userID); err != nil {
		return fmt.Errorf("remove member: %w", err)
	}
	err := db.inTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if err := db.keepAnOwner(ctx, tx, docID, userID, ""); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM members WHERE doc_id = $1 AND user_id = $2`, docID, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: not a member", store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove member %s of document %s: %w", userID, docID, err)
	}
	return nil
}

// keepAnOwner locks the document's row, so membership changes to it happen one
// at a time, and refuses to give userID the role next (empty: remove them) if
// that would leave the document without an owner.
func (db *DB) keepAnOwner(ctx context.Context, tx pgx.Tx, docID, userID string, next store.Role) error {
	var owners int
	var current *store.Role
	err := tx.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM members WHERE doc_id = d.id AND role = 'owner'),
			(SELECT role FROM members WHERE doc_id = d.id AND user_id = $2)
		FROM documents d WHERE d.id = $1 FOR UPDATE`, docID, userID).Scan(&owners, &current)
	if err != nil {
		return fmt.Errorf("document: %w", translate(err))
	}
	if current != nil && *current == store.RoleOwner && next != store.RoleOwner && owners <= 1 {
		return fmt.Errorf("%w: a document must keep an owner", store.ErrConflict)
	}
	return nil
}
