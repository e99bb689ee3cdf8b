package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"tandem/store"
)

const tokenColumns = `id, user_id, name, created_at, last_used_at`

func scanToken(row pgx.Row) (store.Token, error) {
	var t store.Token
	err := row.Scan(&t.ID, &t.UserID, &t.Name, &t.CreatedAt, &t.LastUsedAt)
	return t, err
}

// CreateToken implements store.Tokens.
func (db *DB) CreateToken(ctx context.Context, nt store.NewToken) (store.Token, error) {
	if err := errors.Join(store.CheckKeys(nt.UserID), store.CheckText("token name", nt.Name)); err != nil {
		return store.Token{}, fmt.Errorf("create token: %w", err)
	}
	t := store.Token{ID: store.NewID(), UserID: nt.UserID, Name: nt.Name, CreatedAt: db.now()}
	_, err := db.pool.Exec(ctx,
		`INSERT INTO api_tokens (id, user_id, name, hash, created_at) VALUES ($1, $2, $3, $4, $5)`,
		t.ID, t.UserID, t.Name, nt.Hash, t.CreatedAt)
	if err != nil {
		return store.Token{}, fmt.Errorf("create token for user %s: %w", nt.UserID, translate(err))
	}
	return t, nil
}

// TokenByHash implements store.Tokens.
func (db *DB) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	t, err := scanToken(db.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE hash = $1`, hash))
	if err != nil {
		return store.Token{}, fmt.Errorf("token: %w", translate(err))
	}
	return t, nil
}

// RecordTokenUses implements store.Tokens: one UPDATE joined to the batch
// passed as two arrays.
func (db *DB) RecordTokenUses(ctx context.Context, uses map[string]time.Time) error {
	if len(uses) == 0 {
		return nil
	}
	ids := make([]string, 0, len(uses))
	times := make([]time.Time, 0, len(uses))
	for id, at := range uses {
		ids = append(ids, id)
		times = append(times, at)
	}
	_, err := db.pool.Exec(ctx, `
		UPDATE api_tokens t SET last_used_at = u.at
		FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at)
		WHERE t.id = u.id AND (t.last_used_at IS NULL OR t.last_used_at < u.at)`, ids, times)
	if err != nil {
		return fmt.Errorf("record token uses: %w", err)
	}
	return nil
}

// ListTokens implements store.Tokens.
func (db *DB) ListTokens(ctx context.Context, userID string) ([]store.Token, error) {
	if err := store.CheckKeys(userID); err != nil {
		return nil, nil // no user has that id
	}
	rows, err := db.pool.Query(ctx,
		`SELECT `+tokenColumns+` FROM api_tokens WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	tokens, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Token, error) { return scanToken(r) })
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return tokens, nil
}

// DeleteToken implements store.Tokens.
func (db *DB) DeleteToken(ctx context.Context, userID, id string) error {
	if err := store.CheckKeys(userID, id); err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	tag, err := db.pool.Exec(ctx, `DELETE FROM api_tokens WHERE id = $1 AND user_id = $2`, id, userID)
	if err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete token %s: %w", id, store.ErrNotFound)
	}
	return nil
}
