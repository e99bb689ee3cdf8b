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
)

// dbFlags chooses the database. This is the one place where the store is
// chosen: --database-url set means Postgres.
type dbFlags struct {
	url string
}

func (f *dbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "database-url", envOr("TANDEM_DATABASE_URL", ""),
		"Postgres URL, e.g. postgres://user@host:5432/db (env TANDEM_DATABASE_URL)")
}

// sqlConn is a database/sql handle and its dialect, for migrations.
type sqlConn struct {
	db      *sql.DB
	dialect migrations.Dialect
}

func (c sqlConn) Close() error { return c.db.Close() }

// open connects to the chosen database and checks that it answers.
func (f *dbFlags) open(ctx context.Context) (sqlConn, error) {
	if f.url == "" {
		return sqlConn{}, errors.New("no database: set --database-url or TANDEM_DATABASE_URL")
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
	return sqlConn{db: db, dialect: migrations.Postgres}, nil
}
