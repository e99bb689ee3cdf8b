package sqlite_test

import (
	"context"
	"testing"

	"github.com/alexedwards/scs/sqlite3store"

	"tandem/migrations"
	"tandem/ot"
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

// BenchmarkHistory: go test ./store/sqlite -run '^$' -bench History -benchtime 200x
func BenchmarkHistory(b *testing.B) { storetest.BenchHistory(b, open) }

func TestSessions(t *testing.T) {
	db := openDir(t, t.TempDir(), 0)
	s := sqlite3store.NewWithCleanupInterval(db.SQLDB(), 0)
	storetest.RunSessions(t, s)
}

// TestCheckWrite: the readiness probe writes, leaves no live session, and
// fails when the store cannot write.
func TestCheckWrite(t *testing.T) {
	db := openDir(t, t.TempDir(), 0)
	storetest.RunCheckWrite(t, db, sqlite3store.NewWithCleanupInterval(db.SQLDB(), 0))
}

// TestLegacyNUL: a document written before U+0000 was refused (a snapshot
// holding it, an op inserting it) still loads, with U+FFFD in its place,
// and takes new edits.
func TestLegacyNUL(t *testing.T) {
	ctx := context.Background()
	db := openDir(t, t.TempDir(), 0)
	u, err := db.CreateUser(ctx, store.NewUser{Email: "ann@example.com", Name: "Ann", PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := db.CreateDocument(ctx, store.NewDocument{OwnerID: u.ID, Title: "Old", Content: "ab"})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE snapshots SET content = 'a' || char(0) || 'b' WHERE doc_id = ?1`,
		`INSERT INTO operations (doc_id, version, op_id, user_id, op, created_at) VALUES (?1, 1, 'o1', ?2, '[3,"\u0000"]', 0)`,
		`UPDATE documents SET version = 1 WHERE id = ?1`,
	} {
		if _, err := db.SQLDB().ExecContext(ctx, q, d.ID, u.ID); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, c, err := db.Load(ctx, d.ID); err != nil || c.Text != "a\uFFFDb\uFFFD" || c.Version != 1 {
		t.Fatalf("Load = %q@%d, %v", c.Text, c.Version, err)
	}
	if err := db.AppendOps(ctx, d.ID, 1, []store.NewOp{{ID: "o2", UserID: u.ID, Op: ot.Deletion(4, 1, 1)}}); err != nil {
		t.Fatalf("append after legacy text: %v", err)
	}
	if c, err := db.ContentAt(ctx, d.ID, 2); err != nil || c.Text != "ab\uFFFD" {
		t.Fatalf("ContentAt(2) = %q, %v", c.Text, err)
	}
}
