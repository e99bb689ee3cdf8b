package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"tandem/store"
)

// Invite implements store.Invitations.
func (db *DB) Invite(ctx context.Context, inv store.NewInvitation) (store.Shared, error) {
	if err := store.CheckKeys(inv.DocID, inv.InvitedBy); err != nil {
		return store.Shared{}, fmt.Errorf("invite: %w", err)
	}
	if err := store.CheckText("email", inv.Email); err != nil {
		return store.Shared{}, fmt.Errorf("invite: %w", err)
	}
	if !inv.Role.Valid() {
		return store.Shared{}, fmt.Errorf("invite: %w: unknown role %q", store.ErrInvalid, inv.Role)
	}
	key := store.EmailKey(inv.Email)
	var shared store.Shared
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// The same read whether or not the email has an account: only a
		// member of this document changes the path taken.
		var memberID sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT (SELECT m.user_id FROM members m JOIN users u ON u.id = m.user_id
			WHERE m.doc_id = d.id AND u.email_key = ?) FROM documents d WHERE d.id = ?`, key, inv.DocID).Scan(&memberID)
		if err != nil {
			return fmt.Errorf("document: %w", translate(err))
		}
		if memberID.Valid {
			m, err := setMember(ctx, tx, inv.DocID, memberID.String, inv.Role)
			shared.Member = &m
			return err
		}
		i := store.Invitation{DocID: inv.DocID, Email: key, Role: inv.Role, InvitedBy: inv.InvitedBy, CreatedAt: db.now()}
		_, err = tx.ExecContext(ctx, `INSERT INTO invitations (doc_id, email, role, invited_by, created_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (doc_id, email) DO UPDATE
			SET role = excluded.role, invited_by = excluded.invited_by, created_at = excluded.created_at`,
			i.DocID, i.Email, i.Role, i.InvitedBy, millis(i.CreatedAt))
		shared.Invitation = &i
		return translate(err)
	})
	if err != nil {
		return store.Shared{}, fmt.Errorf("invite to document %s: %w", inv.DocID, err)
	}
	return shared, nil
}

// setMember gives a member a new role, within tx, and returns them.
func setMember(ctx context.Context, tx *sql.Tx, docID, userID string, role store.Role) (store.Member, error) {
	if err := keepAnOwner(ctx, tx, docID, userID, role); err != nil {
		return store.Member{}, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE members SET role = ? WHERE doc_id = ? AND user_id = ?`, role, docID, userID); err != nil {
		return store.Member{}, translate(err)
	}
	var m store.Member
	err := tx.QueryRowContext(ctx, `SELECT u.id, u.email, u.name, m.role FROM members m JOIN users u ON u.id = m.user_id
		WHERE m.doc_id = ? AND m.user_id = ?`, docID, userID).Scan(&m.UserID, &m.Email, &m.Name, &m.Role)
	return m, translate(err)
}

// ListInvitations implements store.Invitations.
func (db *DB) ListInvitations(ctx context.Context, docID string) ([]store.Invitation, error) {
	if err := store.CheckKeys(docID); err != nil {
		return nil, fmt.Errorf("invitations: %w", err)
	}
	var out []store.Invitation
	err := db.inReadTx(ctx, func(tx *sql.Tx) error {
		if _, err := document(ctx, tx, docID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT doc_id, email, role, invited_by, created_at FROM invitations
			WHERE doc_id = ? ORDER BY created_at, email`, docID)
		if err != nil {
			return err
		}
		out, err = collect(rows, func(r scanner) (store.Invitation, error) {
			var i store.Invitation
			var created int64
			err := r.Scan(&i.DocID, &i.Email, &i.Role, &i.InvitedBy, &created)
			i.CreatedAt = fromMillis(created)
			return i, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	return out, nil
}

// RevokeInvitation implements store.Invitations.
func (db *DB) RevokeInvitation(ctx context.Context, docID, email string) error {
	if err := store.CheckKeys(docID, email); err != nil {
		return fmt.Errorf("revoke invitation: %w", err)
	}
	res, err := db.write.ExecContext(ctx, `DELETE FROM invitations WHERE doc_id = ? AND email = ?`, docID, store.EmailKey(email))
	if err != nil {
		return fmt.Errorf("revoke invitation: %w", translate(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revoke invitation of %q to document %s: %w", email, docID, store.ErrNotFound)
	}
	return nil
}

// InvitationsFor implements store.Invitations.
func (db *DB) InvitationsFor(ctx context.Context, userID string) ([]store.PendingInvitation, error) {
	if err := store.CheckKeys(userID); err != nil {
		return nil, fmt.Errorf("invitations for: %w", err)
	}
	rows, err := db.read.QueryContext(ctx, `SELECT i.doc_id, d.title, i.role, b.name, b.email, i.created_at
		FROM users u
		JOIN invitations i ON i.email = u.email_key
		JOIN documents d ON d.id = i.doc_id
		JOIN users b ON b.id = i.invited_by
		WHERE u.id = ? AND NOT EXISTS (SELECT 1 FROM members m WHERE m.doc_id = i.doc_id AND m.user_id = u.id)
		ORDER BY i.created_at DESC, i.doc_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("invitations for user %s: %w", userID, err)
	}
	out, err := collect(rows, func(r scanner) (store.PendingInvitation, error) {
		var p store.PendingInvitation
		var created int64
		err := r.Scan(&p.DocID, &p.Title, &p.Role, &p.InviterName, &p.InviterEmail, &created)
		p.CreatedAt = fromMillis(created)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("invitations for user %s: %w", userID, err)
	}
	return out, nil
}

// AcceptInvitation implements store.Invitations.
func (db *DB) AcceptInvitation(ctx context.Context, docID, userID string) (store.Role, error) {
	if err := store.CheckKeys(docID, userID); err != nil {
		return "", fmt.Errorf("accept invitation: %w", err)
	}
	var role store.Role
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var offered store.Role
		err := tx.QueryRowContext(ctx, `DELETE FROM invitations
			WHERE doc_id = ? AND email = (SELECT email_key FROM users WHERE id = ?) RETURNING role`, docID, userID).Scan(&offered)
		if err != nil {
			return fmt.Errorf("invitation: %w", translate(err))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO members (doc_id, user_id, role) VALUES (?, ?, ?)
			ON CONFLICT (doc_id, user_id) DO NOTHING`, docID, userID, offered); err != nil {
			return translate(err)
		}
		return tx.QueryRowContext(ctx, `SELECT role FROM members WHERE doc_id = ? AND user_id = ?`, docID, userID).Scan(&role)
	})
	if err != nil {
		return "", fmt.Errorf("accept invitation to document %s: %w", docID, err)
	}
	return role, nil
}

// DeclineInvitation implements store.Invitations.
func (db *DB) DeclineInvitation(ctx context.Context, docID, userID string) error {
	if err := store.CheckKeys(docID, userID); err != nil {
		return fmt.Errorf("decline invitation: %w", err)
	}
	res, err := db.write.ExecContext(ctx, `DELETE FROM invitations
		WHERE doc_id = ? AND email = (SELECT email_key FROM users WHERE id = ?)`, docID, userID)
	if err != nil {
		return fmt.Errorf("decline invitation: %w", translate(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("decline invitation to document %s: %w", docID, store.ErrNotFound)
	}
	return nil
}
