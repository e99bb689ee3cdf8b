package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"tandem/migrations"
	"tandem/store/sqlite"
)

// dbFlags chooses the database. This is the one place where the store is
// chosen: --database-url set means Postgres; otherwise the embedded SQLite
// store in --data-dir.
type dbFlags struct {
	url     string
	dataDir string
}

func (f *dbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "database-url", envOr("TANDEM_DATABASE_URL", ""),
		"Postgres URL, e.g. postgres://user@host:5432/db; if unset, the embedded store in --data-dir is used (env TANDEM_DATABASE_URL)")
	fs.StringVar(&f.dataDir, "data-dir", envOr("TANDEM_DATA_DIR", "./tandem-data"),
		"directory of the embedded SQLite store, created if missing (env TANDEM_DATA_DIR)")
}

// sqlConn is a database/sql handle and its dialect, for migrations.
type sqlConn struct {
	db      *sql.DB
	dialect migrations.Dialect
	close   func() error
}

func (c sqlConn) Close() error { return c.close() }

// open connects to the chosen database and checks that it answers.
func (f *dbFlags) open(ctx context.Context) (sqlConn, error) {
	if f.url == "" {
		if f.dataDir == "" {
			return sqlConn{}, errors.New("no database: set --database-url, or --data-dir for the embedded store")
		}
		db, err := sqlite.Open(ctx, f.dataDir, sqlite.Config{})
		if err != nil {
			return sqlConn{}, fmt.Errorf("embedded store in %s: %w", f.dataDir, err)
		}
		return sqlConn{db: db.SQLDB(), dialect: migrations.SQLite, close: db.Close}, nil
	}
	cfg, err := pgx.ParseConfig(f.url)
	if err != nil {
		return sqlConn{}, fmt.Errorf("invalid --database-url: %w", err)
	}
	db, err := sql.Open("pgx", f.url)
	if err != nil {
		return sqlConn{}, fmt.Errorf("invalid --database-url: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return sqlConn{}, fmt.Errorf("cannot reach postgres at %s:%d/%s: %w", cfg.Host, cfg.Port, cfg.Database, err)
	}
	return sqlConn{db: db, dialect: migrations.Postgres, close: db.Close}, nil
}
