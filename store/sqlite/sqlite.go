// Package sqlite is the embedded default store.Store: one SQLite file in a
// data directory, through the pure-Go modernc.org/sqlite driver, so Tandem
// builds and runs with no cgo and no database to install.
//
// It keeps the Postgres store's semantics with the same constraints: the
// primary key (document, version) fences the history and the unique key
// (document, op id) catches re-sent operations. Writes go through a single
// connection (SQLite admits one writer at a time; queueing in Go is cheaper
// than retrying on SQLITE_BUSY) and every write transaction begins IMMEDIATE,
// so it holds the write lock from its first statement. Reads use a separate
// pool that WAL mode lets run beside the writer. synchronous=FULL makes every
// commit durable before it returns.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"

	"tandem/store"
)

// FileName is the database file's name inside the data directory.
const FileName = "tandem.db"

// DB is a store.Store on a SQLite file.
type DB struct {
	write         *sql.DB // one connection
	read          *sql.DB // a pool of read-only connections
	snapshotEvery int64

	committer *store.Committer[appendReq] // group-commits appends (see AppendOps)
	closeOnce sync.Once

	// Now is the clock for timestamps; tests may replace it.
	Now func() time.Time
}

var _ store.Store = (*DB)(nil)

// Config tunes a DB.
type Config struct {
	// SnapshotEvery is the number of operations between snapshots
	// (store.DefaultSnapshotEvery if zero).
	SnapshotEvery int
	// Readers caps the read pool (4 if zero).
	Readers int
}

// Open opens (creating if needed) the database in dataDir, which is created
// if missing. It does not migrate: see package migrations.
func Open(ctx context.Context, dataDir string, cfg Config) (*DB, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dataDir, FileName)
	write, err := openPool(ctx, path, false)
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	read, err := openPool(ctx, path, true)
	if err != nil {
		write.Close()
		return nil, err
	}
	readers := cfg.Readers
	if readers <= 0 {
		readers = 4
	}
	read.SetMaxOpenConns(readers)
	read.SetMaxIdleConns(readers)
	every := int64(cfg.SnapshotEvery)
	if every <= 0 {
		every = store.DefaultSnapshotEvery
	}
	db := &DB{write: write, read: read, snapshotEvery: every, Now: time.Now}
	db.committer = store.NewCommitter(maxGroup, db.commitGroup)
	return db, nil
}

// openPool opens a connection pool on the file with the pragmas every
// connection needs. busy_timeout comes first so that switching to WAL waits
// for a lock instead of failing.
func openPool(ctx context.Context, path string, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(FULL)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// SQLDB returns the writer's database/sql handle, for migrations and the
// session store. It belongs to the DB: do not close it.
func (db *DB) SQLDB() *sql.DB { return db.write }

// Ping checks that the database file answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.read.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return nil
}

// CheckWrite makes one tiny durable write, through the writer, and reports
// whether the database can commit, which Ping cannot tell: a full disk
// still answers reads. The write replaces one row of the sessions table
// that is expired from the start (token "tandem:write-check", which no
// session token can be), so scs never finds it and its sweep may delete
// it; no table of its own is needed.
func (db *DB) CheckWrite(ctx context.Context) error {
	_, err := db.write.ExecContext(ctx,
		`REPLACE INTO sessions (token, data, expiry) VALUES ('tandem:write-check', ?, 0)`,
		[]byte(db.now().Format(time.RFC3339Nano)))
	if err != nil {
		return fmt.Errorf("write check: %w", err)
	}
	return nil
}

// Close stops the committer (after the group it is writing) and closes both
// pools.
func (db *DB) Close() error {
	var err error
	db.closeOnce.Do(func() {
		db.committer.Close()
		err = errors.Join(db.read.Close(), db.write.Close())
	})
	return err
}

// now is the store's clock at the precision it keeps (milliseconds), in UTC.
func (db *DB) now() time.Time { return db.Now().UTC().Truncate(time.Millisecond) }

func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// querier is what a pool and a transaction have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inTx runs fn in a write transaction, committing if it returns nil.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return runTx(ctx, db.write, nil, fn)
}

// inReadTx runs fn in a read transaction: one consistent view of the file.
func (db *DB) inReadTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return runTx(ctx, db.read, &sql.TxOptions{ReadOnly: true}, fn)
}

func runTx(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, fn func(tx *sql.Tx) error) error {
	tx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// SQLite's extended result codes for constraint failures (sqlite3.h).
const (
	constraintCheck      = 275
	constraintForeignKey = 787
	constraintPrimaryKey = 1555
	constraintUnique     = 2067
)

// translate maps driver errors onto the store's sentinels, keeping the cause.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	var sqlErr *sqlite.Error
	if errors.As(err, &sqlErr) {
		switch sqlErr.Code() {
		case constraintUnique, constraintPrimaryKey:
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		case constraintForeignKey:
			return fmt.Errorf("%w: %w", store.ErrNotFound, err)
		case constraintCheck:
			return fmt.Errorf("%w: %w", store.ErrInvalid, err)
		}
	}
	return err
}

// isUnique reports whether err is a unique violation on the named columns,
// as SQLite names them: "table.column, table.column".
func isUnique(err error, columns string) bool {
	var sqlErr *sqlite.Error
	return errors.As(err, &sqlErr) && sqlErr.Code() == constraintUnique && strings.Contains(sqlErr.Error(), columns)
}
