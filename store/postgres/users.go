package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"tandem/store"
)

const userColumns = `id, email, name, password_hash, created_at`

func scanUser(row pgx.Row) (store.User, error) {
	var u store.User
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.CreatedAt)
	return u, err
}

// CreateUser implements store.Users.
func (db *DB) CreateUser(ctx context.Context, nu store.NewUser) (store.User, error) {
	if err := errors.Join(store.CheckText("email", nu.Email), store.CheckText("name", nu.Name), store.CheckText("password hash", nu.PasswordHash)); err != nil {
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	u := store.User{ID: store.NewID(), Email: nu.Email, Name: nu.Name, PasswordHash: nu.PasswordHash, CreatedAt: db.now()}
	_, err := db.pool.Exec(ctx,
		`INSERT INTO users (id, email, email_key, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		u.ID, u.Email, store.EmailKey(u.Email), u.Name, u.PasswordHash, u.CreatedAt)
	if isUnique(err, "users_email_key_key") {
		return store.User{}, fmt.Errorf("%w: email %q is already registered", store.ErrConflict, nu.Email)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("create user: %w", translate(err))
	}
	return u, nil
}

// User implements store.Users.
func (db *DB) User(ctx context.Context, id string) (store.User, error) {
	if err := store.CheckKeys(id); err != nil {
		return store.User{}, fmt.Errorf("user: %w", err)
	}
	u, err := scanUser(db.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return store.User{}, fmt.Errorf("user %s: %w", id, translate(err))
	}
	return u, nil
}

// UserByEmail implements store.Users.
func (db *DB) UserByEmail(ctx context.Context, email string) (store.User, error) {
	if err := store.CheckKeys(email); err != nil {
		return store.User{}, fmt.Errorf("user by email: %w", err)
	}
	u, err := scanUser(db.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email_key = $1`, store.EmailKey(email)))
	if err != nil {
		return store.User{}, fmt.Errorf("user with email %q: %w", email, translate(err))
	}
	return u, nil
}

// ListUsers implements store.Users.
func (db *DB) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.User, error) { return scanUser(r) })
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// SetPasswordHash implements store.Users.
func (db *DB) SetPasswordHash(ctx context.Context, id, hash string) error {
	if err := errors.Join(store.CheckKeys(id), store.CheckText("password hash", hash)); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	tag, err := db.pool.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, id, hash)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("set password: user %s: %w", id, store.ErrNotFound)
	}
	return nil
}
