package postgres_test

import (
	"context"
	"os"
	"testing"

	"github.com/alexedwards/scs/pgxstore"

	"tandem/ot"
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

// BenchmarkHistory: go test ./store/postgres -run '^$' -bench History -benchtime 200x
func BenchmarkHistory(b *testing.B) { storetest.BenchHistory(b, open) }

func TestSessions(t *testing.T) {
	db := open(t, 0).(*postgres.DB)
	s := pgxstore.NewWithCleanupInterval(db.Pool(), 0)
	storetest.RunSessions(t, s)
}

// TestCheckWrite: the readiness probe writes, leaves no live session, and
// fails when the store cannot write.
func TestCheckWrite(t *testing.T) {
	db := open(t, 0).(*postgres.DB)
	storetest.RunCheckWrite(t, db, pgxstore.NewWithCleanupInterval(db.Pool(), 0))
}

// TestLegacyNUL: an op stored before U+0000 was refused (Postgres took the
// op, whose wire form escapes it, but no snapshot of its text) still reads,
// with U+FFFD in its place, and the document takes new edits and snapshots.
func TestLegacyNUL(t *testing.T) {
	ctx := context.Background()
	db := open(t, 2).(*postgres.DB)
	u, err := db.CreateUser(ctx, store.NewUser{Email: "ann@example.com", Name: "Ann", PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := db.CreateDocument(ctx, store.NewDocument{OwnerID: u.ID, Title: "Old", Content: "ab"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool().Exec(ctx, `INSERT INTO operations (doc_id, version, op_id, user_id, op, created_at)
		VALUES ($1, 1, 'o1', $2, '[1,"\u0000",1]', now())`, d.ID, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool().Exec(ctx, `UPDATE documents SET version = 1 WHERE id = $1`, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, c, err := db.Load(ctx, d.ID); err != nil || c.Text != "a\uFFFDb" || c.Version != 1 {
		t.Fatalf("Load = %q@%d, %v", c.Text, c.Version, err)
	}
	if err := db.AppendOps(ctx, d.ID, 1, []store.NewOp{{ID: "o2", UserID: u.ID, Op: ot.Insertion(3, 3, "!")}}); err != nil {
		t.Fatalf("append (and snapshot) after legacy text: %v", err)
	}
	if _, c, err := db.Load(ctx, d.ID); err != nil || c.Text != "a\uFFFDb!" || c.Replayed != 0 {
		t.Fatalf("Load from the new snapshot = %+v, %v", c, err)
	}
}
