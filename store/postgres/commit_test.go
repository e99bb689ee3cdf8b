package postgres_test

import (
	"context"
	"fmt"
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
