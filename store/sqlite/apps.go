package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"tandem/store"
)

const appColumns = `id, name, secret, public_key, user_id, created_at, revoked_at`

func scanApp(row scanner) (store.App, error) {
	var a store.App
	var key sql.NullString
	var created int64
	var revoked sql.NullInt64
	err := row.Scan(&a.ID, &a.Name, &a.Secret, &key, &a.UserID, &created, &revoked)
	a.PublicKey, a.CreatedAt = key.String, fromMillis(created)
	if revoked.Valid {
		at := fromMillis(revoked.Int64)
		a.RevokedAt = &at
	}
	return a, err
}

// CreateApp implements store.Apps.
func (db *DB) CreateApp(ctx context.Context, na store.NewApp) (store.App, error) {
	if err := store.CheckNewApp(na); err != nil {
		return store.App{}, fmt.Errorf("create app: %w", err)
	}
	now := db.now()
	a := store.App{ID: store.NewID(), Name: na.Name, Secret: na.Secret, PublicKey: na.PublicKey, UserID: store.NewID(), CreatedAt: now}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, email_key, name, password_hash, created_at) VALUES (?, '', ?, ?, ?, ?)`,
			a.UserID, store.AppAccountKey(a.ID), a.Name, store.NoPassword, millis(now)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO apps (id, name, secret, public_key, user_id, created_at) VALUES (?, ?, ?, NULLIF(?, ''), ?, ?)`,
			a.ID, a.Name, a.Secret, a.PublicKey, a.UserID, millis(now))
		return err
	})
	if err != nil {
		return store.App{}, fmt.Errorf("create app %q: %w", na.Name, translate(err))
	}
	return a, nil
}

// ListApps implements store.Apps.
func (db *DB) ListApps(ctx context.Context) ([]store.App, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+appColumns+` FROM apps ORDER BY created_at, rowid`)
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	apps, err := collect(rows, scanApp)
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	return apps, nil
}

// App implements store.Apps.
func (db *DB) App(ctx context.Context, id string) (store.App, error) {
	if err := store.CheckKeys(id); err != nil {
		return store.App{}, fmt.Errorf("app: %w", err)
	}
	a, err := scanApp(db.read.QueryRowContext(ctx, `SELECT `+appColumns+` FROM apps WHERE id = ? AND revoked_at IS NULL`, id))
	if err != nil {
		return store.App{}, fmt.Errorf("app %s: %w", id, translate(err))
	}
	return a, nil
}

// RevokeApp implements store.Apps.
func (db *DB) RevokeApp(ctx context.Context, id string) error {
	if err := store.CheckKeys(id); err != nil {
		return fmt.Errorf("revoke app: %w", err)
	}
	res, err := db.write.ExecContext(ctx, `UPDATE apps SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, millis(db.now()), id)
	if err != nil {
		return fmt.Errorf("revoke app %s: %w", id, translate(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revoke app %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// AppUser implements store.Apps. A user seen before with the same name
// costs one read; a first use or a new name, one transaction.
func (db *DB) AppUser(ctx context.Context, appID, subject, name string) (store.User, error) {
	if err := errors.Join(store.CheckKeys(appID), store.CheckAppUser(subject, name)); err != nil {
		return store.User{}, fmt.Errorf("app user: %w", err)
	}
	const q = `SELECT u.id, u.email, u.name, u.password_hash, u.created_at FROM app_users a JOIN users u ON u.id = a.user_id
		WHERE a.app_id = ? AND a.subject = ?`
	u, err := scanUser(db.read.QueryRowContext(ctx, q, appID, subject))
	if err == nil && u.Name == name {
		return u, nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return store.User{}, fmt.Errorf("app user: %w", translate(err))
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		u, err = scanUser(tx.QueryRowContext(ctx, q, appID, subject))
		switch {
		case err == nil:
			u.Name = name
			_, err = tx.ExecContext(ctx, `UPDATE users SET name = ? WHERE id = ?`, name, u.ID)
			return err
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		u = store.User{ID: store.NewID(), Name: name, PasswordHash: store.NoPassword, CreatedAt: db.now()}
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, email_key, name, password_hash, created_at) VALUES (?, '', ?, ?, ?, ?)`,
			u.ID, store.AppUserKey(u.ID), name, u.PasswordHash, millis(u.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO app_users (app_id, subject, user_id) VALUES (?, ?, ?)`, appID, subject, u.ID)
		return err
	})
	if err != nil {
		return store.User{}, fmt.Errorf("app %s user %q: %w", appID, subject, translate(err))
	}
	return u, nil
}

// PutTicket implements store.Apps.
func (db *DB) PutTicket(ctx context.Context, key string, sealed []byte, expires time.Time) error {
	if key == "" || len(sealed) == 0 {
		return fmt.Errorf("put ticket: %w: empty key or content", store.ErrInvalid)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM socket_tickets WHERE expires_at <= ?`, millis(db.now())); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO socket_tickets (key, sealed, expires_at) VALUES (?, ?, ?)`, key, sealed, millis(expires))
		return err
	})
	if err != nil {
		return fmt.Errorf("put ticket: %w", translate(err))
	}
	return nil
}

// TakeTicket implements store.Apps.
func (db *DB) TakeTicket(ctx context.Context, key string, now time.Time) ([]byte, error) {
	var sealed []byte
	var expires int64
	err := db.write.QueryRowContext(ctx, `DELETE FROM socket_tickets WHERE key = ? RETURNING sealed, expires_at`, key).Scan(&sealed, &expires)
	if err != nil {
		return nil, fmt.Errorf("take ticket: %w", translate(err))
	}
	if expires <= millis(now) {
		return nil, fmt.Errorf("take ticket: expired: %w", store.ErrNotFound)
	}
	return sealed, nil
}
