package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tandem/store"
)

const appColumns = `id, name, secret, COALESCE(public_key, ''), user_id, created_at, revoked_at`

func scanApp(row pgx.Row) (store.App, error) {
	var a store.App
	err := row.Scan(&a.ID, &a.Name, &a.Secret, &a.PublicKey, &a.UserID, &a.CreatedAt, &a.RevokedAt)
	return a, err
}

// CreateApp implements store.Apps.
func (db *DB) CreateApp(ctx context.Context, na store.NewApp) (store.App, error) {
	if err := store.CheckNewApp(na); err != nil {
		return store.App{}, fmt.Errorf("create app: %w", err)
	}
	now := db.now()
	a := store.App{ID: store.NewID(), Name: na.Name, Secret: na.Secret, PublicKey: na.PublicKey, UserID: store.NewID(), CreatedAt: now}
	err := db.inTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO users (id, email, email_key, name, password_hash, created_at) VALUES ($1, '', $2, $3, $4, $5)`,
			a.UserID, store.AppAccountKey(a.ID), a.Name, store.NoPassword, now)
		b.Queue(`INSERT INTO apps (id, name, secret, public_key, user_id, created_at) VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6)`,
			a.ID, a.Name, a.Secret, a.PublicKey, a.UserID, now)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return store.App{}, fmt.Errorf("create app %q: %w", na.Name, translate(err))
	}
	return a, nil
}

// ListApps implements store.Apps.
func (db *DB) ListApps(ctx context.Context) ([]store.App, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+appColumns+` FROM apps ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	apps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.App, error) { return scanApp(r) })
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
	a, err := scanApp(db.pool.QueryRow(ctx, `SELECT `+appColumns+` FROM apps WHERE id = $1 AND revoked_at IS NULL`, id))
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
	tag, err := db.pool.Exec(ctx, `UPDATE apps SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, id, db.now())
	if err != nil {
		return fmt.Errorf("revoke app %s: %w", id, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoke app %s: %w", id, store.ErrNotFound)
	}
	return nil
}

const appUserQuery = `SELECT u.id, u.email, u.name, u.password_hash, u.created_at FROM app_users a JOIN users u ON u.id = a.user_id
	WHERE a.app_id = $1 AND a.subject = $2`

// AppUser implements store.Apps. A user seen before with the same name
// costs one read; a first use or a new name, one transaction. Two first
// uses at once: the loser's insert conflicts, and it reads the winner's.
func (db *DB) AppUser(ctx context.Context, appID, subject, name string) (store.User, error) {
	if err := errors.Join(store.CheckKeys(appID), store.CheckAppUser(subject, name)); err != nil {
		return store.User{}, fmt.Errorf("app user: %w", err)
	}
	for attempt := 0; ; attempt++ {
		u, err := scanUser(db.pool.QueryRow(ctx, appUserQuery, appID, subject))
		if err == nil && u.Name == name {
			return u, nil
		}
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return store.User{}, fmt.Errorf("app user: %w", translate(err))
		}
		if err == nil {
			u.Name = name
			if _, err := db.pool.Exec(ctx, `UPDATE users SET name = $2 WHERE id = $1`, u.ID, name); err != nil {
				return store.User{}, fmt.Errorf("rename app user: %w", translate(err))
			}
			return u, nil
		}
		u, err = db.createAppUser(ctx, appID, subject, name)
		if errors.Is(err, store.ErrConflict) && attempt == 0 {
			continue
		}
		return u, err
	}
}

func (db *DB) createAppUser(ctx context.Context, appID, subject, name string) (store.User, error) {
	u := store.User{ID: store.NewID(), Name: name, PasswordHash: store.NoPassword, CreatedAt: db.now()}
	err := db.inTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO users (id, email, email_key, name, password_hash, created_at) VALUES ($1, '', $2, $3, $4, $5)`,
			u.ID, store.AppUserKey(u.ID), name, u.PasswordHash, u.CreatedAt)
		b.Queue(`INSERT INTO app_users (app_id, subject, user_id) VALUES ($1, $2, $3)`, appID, subject, u.ID)
		return tx.SendBatch(ctx, b).Close()
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
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM socket_tickets WHERE expires_at <= $1`, db.now())
	b.Queue(`INSERT INTO socket_tickets (key, sealed, expires_at) VALUES ($1, $2, $3)`, key, sealed, expires)
	if err := db.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("put ticket: %w", translate(err))
	}
	return nil
}

// TakeTicket implements store.Apps.
func (db *DB) TakeTicket(ctx context.Context, key string, now time.Time) ([]byte, error) {
	var sealed []byte
	var live bool
	err := db.pool.QueryRow(ctx, `DELETE FROM socket_tickets WHERE key = $1 RETURNING sealed, expires_at > $2`, key, now).Scan(&sealed, &live)
	if err != nil {
		return nil, fmt.Errorf("take ticket: %w", translate(err))
	}
	if !live {
		return nil, fmt.Errorf("take ticket: expired: %w", store.ErrNotFound)
	}
	return sealed, nil
}
