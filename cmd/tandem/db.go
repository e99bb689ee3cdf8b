package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/alexedwards/scs/sqlite3store"
	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5"

	"tandem/migrations"
	"tandem/store"
	"tandem/store/postgres"
	"tandem/store/sqlite"
)

// dbFlags chooses the database. This is the one place where the store is
// chosen: --database-url set means Postgres; otherwise the embedded SQLite
// store in --data-dir.
type dbFlags struct {
	url           string
	dataDir       string
	snapshotEvery int
}

func (f *dbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "database-url", "",
		"Postgres URL, e.g. postgres://user@host:5432/db; if unset, the embedded store in --data-dir is used")
	fs.StringVar(&f.dataDir, "data-dir", "./tandem-data",
		"directory of the embedded SQLite store, created if missing")
	fs.IntVar(&f.snapshotEvery, "snapshot-every", store.DefaultSnapshotEvery,
		"operations between two snapshots of a document")
}

// backend is an open store with what is needed around it.
type backend struct {
	store    store.Store
	sessions scs.Store          // browser sessions, in the store's sessions table
	sqlDB    *sql.DB            // for migrations
	dialect  migrations.Dialect // which migrations apply
	// checkWrite makes a tiny durable write: can the store commit?
	checkWrite func(context.Context) error
	close      func() error
	pg         *postgres.DB // the store if it is Postgres: the doorbell rings through it
}

func (b *backend) Close() error { return b.close() }

// migrator returns the migrations for the backend's database.
func (b *backend) migrator() (*migrations.Migrator, error) {
	return migrations.New(b.sqlDB, b.dialect)
}

// errUnreachable marks a failure to reach the database, which waiting may
// cure (unlike a bad flag): errors.Is(err, errUnreachable).
var errUnreachable = errors.New("database unreachable")

// unreachable is an error that errors.Is errUnreachable, with its own
// message.
type unreachable struct{ error }

func (u unreachable) Unwrap() error        { return u.error }
func (u unreachable) Is(target error) bool { return target == errUnreachable }

// openWaiting is open, retried with backoff for as long as wait while the
// database is unreachable (it may be starting beside us), logging each
// wait. With wait 0 it fails at once.
func (f *dbFlags) openWaiting(ctx context.Context, wait time.Duration, log *slog.Logger) (*backend, error) {
	deadline := time.Now().Add(wait)
	pause := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		b, err := f.open(ctx)
		if err == nil || !errors.Is(err, errUnreachable) {
			return b, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			if wait > 0 {
				return nil, fmt.Errorf("gave up after --wait-for-db %s: %w", wait, err)
			}
			return nil, err
		}
		pause = min(pause, left)
		log.Warn("waiting for the database", "attempt", attempt, "retry_in", pause, "left", left.Round(time.Millisecond), "err", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the database: %w", ctx.Err())
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// open connects to the chosen database and checks that it answers.
// openCurrent opens the store for an admin command, which works only on a
// database whose schema is up to date (`tandem migrate up`).
func (f *dbFlags) openCurrent(ctx context.Context) (*backend, error) {
	b, err := f.open(ctx)
	if err != nil {
		return nil, err
	}
	m, err := b.migrator()
	if err == nil {
		err = m.CheckCurrent(ctx)
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (f *dbFlags) open(ctx context.Context) (*backend, error) {
	if f.snapshotEvery < 1 {
		return nil, fmt.Errorf("--snapshot-every must be at least 1")
	}
	if f.url == "" {
		return f.openSQLite(ctx)
	}
	return f.openPostgres(ctx)
}

func (f *dbFlags) openSQLite(ctx context.Context) (*backend, error) {
	if f.dataDir == "" {
		return nil, errors.New("no database: set --database-url, or --data-dir for the embedded store")
	}
	db, err := sqlite.Open(ctx, f.dataDir, sqlite.Config{SnapshotEvery: f.snapshotEvery})
	if err != nil {
		return nil, unreachable{fmt.Errorf("embedded store in %s: %w", f.dataDir, err)}
	}
	sessions := sqlite3store.NewWithCleanupInterval(db.SQLDB(), 10*time.Minute)
	return &backend{
		store:      db,
		sessions:   sessions,
		sqlDB:      db.SQLDB(),
		dialect:    migrations.SQLite,
		checkWrite: db.CheckWrite,
		close: func() error {
			sessions.StopCleanup()
			return db.Close()
		},
	}, nil
}

func (f *dbFlags) openPostgres(ctx context.Context) (*backend, error) {
	cfg, err := pgx.ParseConfig(f.url)
	if err != nil {
		return nil, fmt.Errorf("invalid --database-url: %w", err)
	}
	openCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	db, err := postgres.Open(openCtx, f.url, postgres.Config{SnapshotEvery: f.snapshotEvery})
	if err != nil {
		return nil, unreachable{fmt.Errorf("cannot reach postgres at %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, err)}
	}
	// pgxstore's own cleanup goroutine sets the channel that StopCleanup
	// reads, a data race (-race reports it): sweep expired sessions here.
	sessions := pgxstore.NewWithCleanupInterval(db.Pool(), 0)
	sweepCtx, stopSweep := context.WithCancel(context.Background())
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		tick := time.NewTicker(10 * time.Minute)
		defer tick.Stop()
		for {
			select {
			case <-sweepCtx.Done():
				return
			case <-tick.C:
				_, _ = db.DeleteExpiredSessions(sweepCtx) // retried next tick
			}
		}
	}()
	sqlDB := db.SQLDB()
	return &backend{
		store:      db,
		sessions:   sessions,
		sqlDB:      sqlDB,
		dialect:    migrations.Postgres,
		checkWrite: db.CheckWrite,
		pg:         db,
		close: func() error {
			stopSweep()
			<-swept
			return errors.Join(sqlDB.Close(), db.Close())
		},
	}, nil
}
