// Package migrations holds Tandem's schema history as plain SQL files, one
// folder per dialect (postgres/, sqlite/), embedded in the binary, and applies
// them with pressly/goose v3.
//
// Files are named NNNNN_name.sql, numbered in sequence, and append-only: a
// migration that has shipped is never edited; a change is a new file in both
// folders with the same number. Each migration runs in its own transaction
// together with the row that records its version.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// Dialect names a database flavour with its own folder of migrations.
type Dialect string

// The dialects.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// ErrBehind is returned by CheckCurrent when migrations are pending.
var ErrBehind = errors.New("database schema is behind")

// Migrator applies one dialect's migrations to one database.
type Migrator struct {
	provider *goose.Provider
}

// New returns a Migrator for db. On Postgres it takes an advisory lock while
// it migrates, so two processes migrating at once do not collide.
func New(db *sql.DB, dialect Dialect) (*Migrator, error) {
	fsys, err := fs.Sub(files, string(dialect))
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", dialect, err)
	}
	var opts []goose.ProviderOption
	var gooseDialect goose.Dialect
	switch dialect {
	case Postgres:
		gooseDialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	case SQLite:
		gooseDialect = goose.DialectSQLite3
	default:
		return nil, fmt.Errorf("unknown dialect %q", dialect)
	}
	p, err := goose.NewProvider(gooseDialect, db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", dialect, err)
	}
	return &Migrator{provider: p}, nil
}

// Result is what one applied or rolled-back migration did.
type Result struct {
	Version  int64
	Name     string
	Up       bool // applied; false: rolled back
	Duration time.Duration
}

// Status is one migration's state in the database.
type Status struct {
	Version   int64
	Name      string
	Applied   bool
	AppliedAt time.Time // zero if pending
}

// Up applies every pending migration, in order.
func (m *Migrator) Up(ctx context.Context) ([]Result, error) {
	res, err := m.provider.Up(ctx)
	if err != nil {
		return results(appliedBeforeFailure(err)), fmt.Errorf("migrate up: %w", err)
	}
	return results(res), nil
}

// Down rolls back the n most recent migrations (fewer if fewer are applied).
func (m *Migrator) Down(ctx context.Context, n int) ([]Result, error) {
	var out []Result
	for range n {
		res, err := m.provider.Down(ctx)
		if errors.Is(err, goose.ErrNoNextVersion) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("migrate down: %w", err)
		}
		out = append(out, results([]*goose.MigrationResult{res})...)
	}
	return out, nil
}

// Status lists every known migration with whether it is applied.
func (m *Migrator) Status(ctx context.Context) ([]Status, error) {
	st, err := m.provider.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]Status, 0, len(st))
	for _, s := range st {
		out = append(out, Status{
			Version:   s.Source.Version,
			Name:      filepath.Base(s.Source.Path),
			Applied:   s.State == goose.StateApplied,
			AppliedAt: s.AppliedAt,
		})
	}
	return out, nil
}

// Versions returns the version the database is at and the latest known one.
func (m *Migrator) Versions(ctx context.Context) (current, latest int64, err error) {
	current, latest, err = m.provider.GetVersions(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("schema version: %w", err)
	}
	return current, latest, nil
}

// CheckCurrent returns an error wrapping ErrBehind if migrations are pending.
func (m *Migrator) CheckCurrent(ctx context.Context) error {
	current, latest, err := m.Versions(ctx)
	if err != nil {
		return err
	}
	if current < latest {
		return fmt.Errorf("%w: at version %d, latest is %d (run `tandem migrate up`)", ErrBehind, current, latest)
	}
	return nil
}

func appliedBeforeFailure(err error) []*goose.MigrationResult {
	var partial *goose.PartialError
	if errors.As(err, &partial) {
		return partial.Applied
	}
	return nil
}

func results(rs []*goose.MigrationResult) []Result {
	out := make([]Result, 0, len(rs))
	for _, r := range rs {
		out = append(out, Result{
			Version:  r.Source.Version,
			Name:     filepath.Base(r.Source.Path),
			Up:       r.Direction == "up",
			Duration: r.Duration,
		})
	}
	return out
}

var (
	fileName = regexp.MustCompile(`^(\d+)_.*\.sql$`)
	nameOK   = regexp.MustCompile(`^[a-z0-9_]+$`)
)

// Create writes a new, empty migration NNNNN_name.sql into each dialect's
// folder under dir (the source tree's migrations folder), numbered one past
// the highest existing number in either. It returns the paths it wrote.
func Create(dir, name string) ([]string, error) {
	name = strings.ToLower(strings.ReplaceAll(strings.TrimSpace(name), "-", "_"))
	if !nameOK.MatchString(name) {
		return nil, fmt.Errorf("migration name %q: use letters, digits and underscores", name)
	}
	dialects := []Dialect{Postgres, SQLite}
	var highest int64
	for _, d := range dialects {
		entries, err := os.ReadDir(filepath.Join(dir, string(d)))
		if err != nil {
			return nil, fmt.Errorf("read migrations folder: %w", err)
		}
		for _, e := range entries {
			if m := fileName.FindStringSubmatch(e.Name()); m != nil {
				v, _ := strconv.ParseInt(m[1], 10, 64)
				highest = max(highest, v)
			}
		}
	}
	var paths []string
	for _, d := range dialects {
		path := filepath.Join(dir, string(d), fmt.Sprintf("%05d_%s.sql", highest+1, name))
		body := fmt.Sprintf("-- +goose Up\n-- %s (%s): write the change here.\n\n-- +goose Down\n-- Undo it here.\n", name, d)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return paths, fmt.Errorf("create migration: %w", err)
		}
		_, werr := f.WriteString(body)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return paths, fmt.Errorf("write migration: %w", werr)
		}
		paths = append(paths, path)
	}
	return paths, nil
}
