package postgres_test

import (
	"context"
	"os"
	"testing"

	"github.com/alexedwards/scs/pgxstore"

	"tandem/store"
	"tandem/store/postgres"
	"tandem/store/postgres/pgtest"
	"tandem/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// open returns a store on a fresh migrated database.
func open(tb testing.TB, snapshotEvery int) store.Store {
	tb.Helper()
	db, err := postgres.Open(context.Background(), pgtest.Migrated(tb), postgres.Config{SnapshotEvery: snapshotEvery})
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := postgres.Open(ctx, "postgres://%zz", postgres.Config{}); err == nil {
		t.Error("a malformed URL opened")
	}
	// Nothing listens on port 1.
	if _, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/x?connect_timeout=2", postgres.Config{}); err == nil {
		t.Error("an unreachable server opened")
	}
}

// BenchmarkStore: go test ./store/postgres -run '^$' -bench . -benchtime 3s
func BenchmarkStore(b *testing.B) { storetest.Bench(b, open) }

func TestSessions(t *testing.T) {
	db := open(t, 0).(*postgres.DB)
	s := pgxstore.NewWithCleanupInterval(db.Pool(), 0)
	storetest.RunSessions(t, s)
}

// TestCheckWrite: the readiness probe writes, leaves no live session, and
// fails when the store cannot write.
func TestCheckWrite(t *testing.T) {
	ctx := context.Background()
	db := open(t, 0).(*postgres.DB)
	for range 2 {
		if err := db.CheckWrite(ctx); err != nil {
			t.Fatalf("CheckWrite: %v", err)
		}
	}
	s := pgxstore.NewWithCleanupInterval(db.Pool(), 0)
	if _, found, err := s.Find("tandem:write-check"); err != nil || found {
		t.Errorf("Find(write check row) = %v, %v; want no session", found, err)
	}
	db.Close()
	if err := db.CheckWrite(ctx); err == nil {
		t.Error("a closed store passed the write check")
	}
}
