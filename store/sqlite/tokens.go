package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"tandem/store"
)

const tokenColumns = `id, user_id, name, created_at, last_used_at`

func scanToken(row scanner) (store.Token, error) {
	var t store.Token
	var created int64
	var used sql.NullInt64
	err := row.Scan(&t.ID, &t.UserID, &t.Name, &created, &used)
	t.CreatedAt = fromMillis(created)
	if used.Valid {
		at := fromMillis(used.Int64)
		t.LastUsedAt = &at
	}
	return t, err
}

// CreateToken implements store.Tokens.
func (db *DB) CreateToken(ctx context.Context, nt store.NewToken) (store.Token, error) {
	if err := errors.Join(store.CheckKeys(nt.UserID), store.CheckText("token name", nt.Name)); err != nil {
		return store.Token{}, fmt.Errorf("create token: %w", err)
	}
	t := store.Token{ID: store.NewID(), UserID: nt.UserID, Name: nt.Name, CreatedAt: db.now()}
	_, err := db.write.ExecContext(ctx,
		`INSERT INTO api_tokens (id, user_id, name, hash, created_at) VALUES (?, ?, ?, ?, ?)`,
		t.ID, t.UserID, t.Name, nt.Hash, millis(t.CreatedAt))
	if err != nil {
		return store.Token{}, fmt.Errorf("create token for user %s: %w", nt.UserID, translate(err))
	}
	return t, nil
}

// TokenByHash implements store.Tokens. It reads from the read pool, so a
// bearer request never waits for the writer.
func (db *DB) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	t, err := scanToken(db.read.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE hash = ?`, hash))
	if err != nil {
		return store.Token{}, fmt.Errorf("token: %w", translate(err))
	}
	return t, nil
}

// RecordTokenUses implements store.Tokens: one UPDATE joined to the batch,
// passed as a JSON array of [id, millis] pairs.
func (db *DB) RecordTokenUses(ctx context.Context, uses map[string]time.Time) error {
	if len(uses) == 0 {
		return nil
	}
	pairs := make([][2]any, 0, len(uses))
	for id, at := range uses {
		pairs = append(pairs, [2]any{id, millis(at)})
	}
	batch, err := json.Marshal(pairs)
	if err != nil {
		return fmt.Errorf("record token uses: %w", err)
	}
	_, err = db.write.ExecContext(ctx, `
		UPDATE api_tokens SET last_used_at = u.at
		FROM (SELECT value ->> 0 AS id, value ->> 1 AS at FROM json_each(?)) AS u
		WHERE api_tokens.id = u.id AND (api_tokens.last_used_at IS NULL OR api_tokens.last_used_at < u.at)`, string(batch))
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
	rows, err := db.read.QueryContext(ctx,
		`SELECT `+tokenColumns+` FROM api_tokens WHERE user_id = ? ORDER BY created_at, rowid`, userID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	tokens, err := collect(rows, scanToken)
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
	res, err := db.write.ExecContext(ctx, `DELETE FROM api_tokens WHERE id = ? AND user_id = ?`, id, userID)
	if err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete token %s: %w", id, store.ErrNotFound)
	}
	return nil
}
