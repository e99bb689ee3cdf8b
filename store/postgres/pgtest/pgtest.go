// Package pgtest gives tests throwaway Postgres databases on a real server.
//
// The server is TANDEM_TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres), a role that may create
// databases. Each database is named for the test process and dropped when the
// test ends. Without a server, tests are skipped, except under CI=true, where
// a missing Postgres fails them.
//
// A test package that uses Migrated wraps its run with Main, which drops the
// migrated template database at the end.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for migrations

	"tandem/migrations"
)

// AdminURL is the server's URL from TANDEM_TEST_DATABASE_URL, or the default.
func AdminURL() string {
	if u := os.Getenv("TANDEM_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres"
}

var (
	prefix = "tandem_test_" + randomSuffix()

	templateOnce sync.Once
	templateName string
	templateErr  error
)

func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Main runs the tests and then drops the template database, if one was made.
// Use it as: func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	if templateName != "" {
		if err := admin(context.Background(), `DROP DATABASE IF EXISTS `+pgx.Identifier{templateName}.Sanitize()+` WITH (FORCE)`); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: drop template: %v\n", err)
		}
	}
	return code
}

// Empty creates an empty database and returns its URL; it is dropped when
// the test ends.
func Empty(tb testing.TB) string {
	tb.Helper()
	return create(tb, "")
}

// Migrated creates a database with every migration applied (cloned from a
// template migrated once per process) and returns its URL.
func Migrated(tb testing.TB) string {
	tb.Helper()
	templateOnce.Do(func() {
		name := prefix + "_tmpl"
		if templateErr = admin(context.Background(), `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); templateErr != nil {
			return
		}
		templateName = name
		templateErr = migrate(withDatabase(AdminURL(), name))
	})
	if templateErr != nil {
		unavailable(tb, templateErr)
	}
	return create(tb, templateName)
}

var counter struct {
	sync.Mutex
	n int
}

func create(tb testing.TB, template string) string {
	tb.Helper()
	counter.Lock()
	counter.n++
	name := fmt.Sprintf("%s_%d", prefix, counter.n)
	counter.Unlock()

	stmt := `CREATE DATABASE ` + pgx.Identifier{name}.Sanitize()
	if template != "" {
		stmt += ` TEMPLATE ` + pgx.Identifier{template}.Sanitize()
	}
	if err := admin(context.Background(), stmt); err != nil {
		unavailable(tb, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	return withDatabase(AdminURL(), name)
}

// unavailable skips the test, or fails it under CI=true.
func unavailable(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("postgres is required under CI=true: %v", err)
	}
	tb.Skipf("postgres not available (set TANDEM_TEST_DATABASE_URL): %v", err)
}

// admin runs one statement on the server's admin database.
func admin(ctx context.Context, stmt string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		return fmt.Errorf("connect to %s: %w", AdminURL(), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}

func migrate(dbURL string) error {
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return err
	}
	defer db.Close()
	m, err := migrations.New(db, migrations.Postgres)
	if err != nil {
		return err
	}
	_, err = m.Up(context.Background())
	return err
}

// withDatabase returns u with its database name replaced.
func withDatabase(u, name string) string {
	parsed, err := url.Parse(u)
	if err != nil || parsed.Scheme == "" {
		// A key=value DSN: a later dbname wins.
		return u + " dbname=" + name
	}
	parsed.Path = "/" + name
	return parsed.String()
}
