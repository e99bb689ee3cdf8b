package sqlite_test

import (
	"context"
	"testing"

	"github.com/alexedwards/scs/sqlite3store"

	"tandem/migrations"
	"tandem/store"
	"tandem/store/sqlite"
	"tandem/store/storetest"
)

// open returns a migrated store in a fresh data directory.
func open(tb testing.TB, snapshotEvery int) store.Store {
	tb.Helper()
	return openDir(tb, tb.TempDir(), snapshotEvery)
}

func openDir(tb testing.TB, dir string, snapshotEvery int) *sqlite.DB {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, dir, sqlite.Config{SnapshotEvery: snapshotEvery})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	m, err := migrations.New(db.SQLDB(), migrations.SQLite)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := m.Up(ctx); err != nil {
		tb.Fatal(err)
	}
	return db
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

// BenchmarkStore: go test ./store/sqlite -run '^$' -bench . -benchtime 3s
func BenchmarkStore(b *testing.B) { storetest.Bench(b, open) }

func TestSessions(t *testing.T) {
	db := openDir(t, t.TempDir(), 0)
	s := sqlite3store.NewWithCleanupInterval(db.SQLDB(), 0)
	storetest.RunSessions(t, s)
}

// TestCheckWrite: the readiness probe writes, leaves no live session, and
// fails when the store cannot write.
func TestCheckWrite(t *testing.T) {
	ctx := context.Background()
	db := openDir(t, t.TempDir(), 0)
	for range 2 {
		if err := db.CheckWrite(ctx); err != nil {
			t.Fatalf("CheckWrite: %v", err)
		}
	}
	s := sqlite3store.NewWithCleanupInterval(db.SQLDB(), 0)
	if _, found, err := s.Find("tandem:write-check"); err != nil || found {
		t.Errorf("Find(write check row) = %v, %v; want no session", found, err)
	}
	db.Close()
	if err := db.CheckWrite(ctx); err == nil {
		t.Error("a closed store passed the write check")
	}
}
