package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"tandem/store"
)

const userColumns = `id, email, name, password_hash, created_at`

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanUser(row scanner) (store.User, error) {
	var u store.User
	var created int64
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &created)
	u.CreatedAt = fromMillis(created)
	return u, err
}

// collect scans every row with scan, then closes the rows.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// CreateUser implements store.Users.
func (db *DB) CreateUser(ctx context.Context, nu store.NewUser) (store.User, error) {
	if err := errors.Join(store.CheckText("email", nu.Email), store.CheckText("name", nu.Name), store.CheckText("password hash", nu.PasswordHash)); err != nil {
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	u := store.User{ID: store.NewID(), Email: nu.Email, Name: nu.Name, PasswordHash: nu.PasswordHash, CreatedAt: db.now()}
	_, err := db.write.ExecContext(ctx,
		`INSERT INTO users (id, email, email_key, name, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, store.EmailKey(u.Email), u.Name, u.PasswordHash, millis(u.CreatedAt))
	if isUnique(err, "users.email_key") {
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
	u, err := scanUser(db.read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
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
	u, err := scanUser(db.read.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE email_key = ?`, store.EmailKey(email)))
	if err != nil {
		return store.User{}, fmt.Errorf("user with email %q: %w", email, translate(err))
	}
	return u, nil
}

// ListUsers implements store.Users.
func (db *DB) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY created_at, rowid`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	users, err := collect(rows, scanUser)
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
	res, err := db.write.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, id)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("set password: user %s: %w", id, store.ErrNotFound)
	}
	return nil
}
