// Package postgres is the production store.Store, on PostgreSQL through pgx v5.
//
// Races and re-sends are settled by the database: a document's version column
// is compared and swapped in the same statement that inserts its operations,
// the primary key (document, version) fences the history, and the unique key
// (document, op id) turns a re-sent operation into store.ErrDuplicate.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"tandem/store"
)

// DB is a store.Store on a pgx connection pool.
type DB struct {
	pool          *pgxpool.Pool
	snapshotEvery int64

	committer *store.Committer[appendReq] // group-commits appends (commit.go)

	// Now is the clock for timestamps; tests may replace it.
	Now func() time.Time
}

var _ store.Store = (*DB)(nil)

// Config tunes a DB.
type Config struct {
	// SnapshotEvery is the number of operations between snapshots
	// (store.DefaultSnapshotEvery if zero).
	SnapshotEvery int
	// MaxConns caps the pool (pgx's default if zero).
	MaxConns int32
}

// Open connects to the database at url (a postgres:// URL or key=value DSN)
// and checks that it answers. It does not migrate: see package migrations.
func Open(ctx context.Context, url string, cfg Config) (*DB, error) {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if cfg.MaxConns > 0 {
		pcfg.MaxConns = cfg.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres at %s: %w", redact(pcfg), err)
	}
	every := int64(cfg.SnapshotEvery)
	if every <= 0 {
		every = store.DefaultSnapshotEvery
	}
	db := &DB{pool: pool, snapshotEvery: every, Now: time.Now}
	db.committer = store.NewCommitter(maxGroup, db.commitGroup)
	return db, nil
}

// redact names the server without the password.
func redact(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

// Pool returns the connection pool, for the session store.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// SQLDB returns a database/sql handle on the same pool, for migrations.
// Closing it leaves the pool open.
func (db *DB) SQLDB() *sql.DB { return stdlib.OpenDBFromPool(db.pool) }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// CheckWrite makes one tiny durable write and reports whether the database
// can commit, which Ping (a round trip) cannot tell: a read-only or full
// database answers pings. The write rewrites one row of the sessions table
// that is expired from the start (token "tandem:write-check", which no
// session token can be), so scs never finds it and the session sweep may
// delete it; no table of its own is needed.
func (db *DB) CheckWrite(ctx context.Context) error {
	_, err := db.pool.Exec(ctx, `
		INSERT INTO sessions (token, data, expiry) VALUES ('tandem:write-check', $1, 'epoch')
		ON CONFLICT (token) DO UPDATE SET data = excluded.data, expiry = excluded.expiry`,
		[]byte(db.now().Format(time.RFC3339Nano)))
	if err != nil {
		return fmt.Errorf("write check: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes browser sessions past their expiry from the
// sessions table that scs/pgxstore reads.
func (db *DB) DeleteExpiredSessions(ctx context.Context) (int64, error) {
	tag, err := db.pool.Exec(ctx, `DELETE FROM sessions WHERE expiry < current_timestamp`)
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Close writes what was handed to the committer, then closes the pool.
func (db *DB) Close() error {
	db.committer.Close()
	db.pool.Close()
	return nil
}

// now is the store's clock at the precision Postgres keeps, in UTC, so that
// what is written reads back equal.
func (db *DB) now() time.Time { return db.Now().UTC().Truncate(time.Microsecond) }

// querier is what a pool and a transaction have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// inTx runs fn in a transaction, committing if it returns nil.
func (db *DB) inTx(ctx context.Context, opts pgx.TxOptions, fn func(tx pgx.Tx) error) error {
	tx, err := db.pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", translate(err))
	}
	return nil
}

// Postgres error codes that mean something to callers.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
	checkViolation      = "23514"
	// Text the database cannot encode (U+0000, invalid UTF-8). The store
	// checks strings before they reach the database (store.CheckKeys,
	// store.CheckText); this is the backstop.
	characterNotInRepertoire = "22021"
	untranslatableCharacter  = "22P05"
)

// translate maps driver errors onto the store's sentinels, keeping the cause.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case uniqueViolation:
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		case foreignKeyViolation:
			return fmt.Errorf("%w: %w", store.ErrNotFound, err)
		case checkViolation, characterNotInRepertoire, untranslatableCharacter:
			return fmt.Errorf("%w: %w", store.ErrInvalid, err)
		}
	}
	return err
}

// isUnique reports whether err is a unique violation of the named constraint.
func isUnique(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == uniqueViolation && pgErr.ConstraintName == constraint
}
