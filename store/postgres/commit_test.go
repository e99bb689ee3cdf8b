package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"tandem/ot"
	"tandem/store"
)

// TestGroupCommitBlamesOneAppend: appends from many documents share group
// commits; one whose statement the database refuses (here a user id with a
// NUL byte, which Postgres text cannot hold) must fail alone, and the other
// documents' appends in the same batch must be stored.
func TestGroupCommitBlamesOneAppend(t *testing.T) {
	ctx := context.Background()
	s := open(t, store.DefaultSnapshotEvery)
	ann, err := s.CreateUser(ctx, store.NewUser{Email: "ann@example.com", Name: "Ann", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	const docs, rounds = 8, 20
	ids := make([]string, docs)
	for i := range ids {
		d, err := s.CreateDocument(ctx, store.NewDocument{OwnerID: ann.ID, Title: "d"})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = d.ID
	}
	for round := range rounds {
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, docs)
		for d := range docs {
			wg.Go(func() {
				user := ann.ID
				if d == round%docs {
					user = "bad\x00user"
				}
				<-start
				errs[d] = s.AppendOps(ctx, ids[d], int64(round), []store.NewOp{{ID: fmt.Sprintf("r%d", round), UserID: user, Op: ot.Insertion(round, round, "x")}})
			})
		}
		close(start)
		wg.Wait()
		for d, err := range errs {
			bad := d == round%docs
			if bad && err == nil {
				t.Fatalf("round %d: the bad append was stored", round)
			}
			if !bad && err != nil {
				t.Fatalf("round %d: doc %d failed with the bad append: %v", round, d, err)
			}
		}
		// The bad document catches up with a good append, so every round
		// starts with all documents at the same version.
		bad := round % docs
		if err := s.AppendOps(ctx, ids[bad], int64(round), []store.NewOp{{ID: fmt.Sprintf("r%d", round), UserID: ann.ID, Op: ot.Insertion(round, round, "x")}}); err != nil {
			t.Fatalf("round %d: retry: %v", round, err)
		}
	}
}

// TestGivenSnapshot: a snapshot whose text the writer gives (NewOp.After) is
// written in the append's own group commit, and only if the append stored
// its op. (The given text differs from the history's on purpose here, to
// see which one the snapshot holds; a real writer gives the exact text.)
func TestGivenSnapshot(t *testing.T) {
	ctx := context.Background()
	s := open(t, store.DefaultSnapshotEvery)
	ann, err := s.CreateUser(ctx, store.NewUser{Email: "ann@example.com", Name: "Ann", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.CreateDocument(ctx, store.NewDocument{OwnerID: ann.ID, Title: "d"})
	if err != nil {
		t.Fatal(err)
	}
	ops := func(head, n int, after map[int]string) []store.NewOp {
		batch := make([]store.NewOp, n)
		for i := range batch {
			v := head + i + 1
			batch[i] = store.NewOp{ID: fmt.Sprint("k", v), UserID: ann.ID, Op: ot.Insertion(v-1, v-1, "x")}
			if text, ok := after[v]; ok {
				batch[i].After = &text
			}
		}
		return batch
	}
	const every = store.DefaultSnapshotEvery
	// Versions 1..every-10, then a batch across the snapshot version.
	if err := s.AppendOps(ctx, d.ID, 0, ops(0, every-10, nil)); err != nil {
		t.Fatal(err)
	}
	// A stale append (its head has moved on) with a given snapshot: refused,
	// and the snapshot is not written.
	stale := ops(every-20, 30, map[int]string{every: strings.Repeat("z", every)})
	for i := range stale {
		stale[i].ID += "-stale"
	}
	if err := s.AppendOps(ctx, d.ID, every-20, stale); err == nil {
		t.Fatal("an append at a stale head was stored")
	}
	given := strings.Repeat("y", every) // as long as the real text, so that later ops apply to it
	if err := s.AppendOps(ctx, d.ID, every-10, ops(every-10, 20, map[int]string{every: given})); err != nil {
		t.Fatal(err)
	}
	c, err := s.ContentAt(ctx, d.ID, every)
	if err != nil {
		t.Fatal(err)
	}
	if c.Text != given {
		t.Fatalf("content at the snapshot version: %q, want the given text", c.Text)
	}
	// Without a given text, the store builds the snapshot from the history.
	if err := s.AppendOps(ctx, d.ID, every+10, ops(every+10, every, nil)); err != nil {
		t.Fatal(err)
	}
	if c, err := s.ContentAt(ctx, d.ID, 2*every); err != nil || c.Text != given+strings.Repeat("x", every) {
		t.Fatalf("content at %d: %q %v", 2*every, c.Text, err)
	}
}
