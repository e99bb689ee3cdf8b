package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"tandem/ot"
	"tandem/store"
	"tandem/store/postgres"
	"tandem/store/postgres/pgtest"
)

// leaseFixture is a migrated database with one document, and a second
// handle on the same database (another node's pool).
func leaseFixture(t *testing.T) (a, b *postgres.DB, doc, user string) {
	t.Helper()
	ctx := context.Background()
	url := pgtest.Migrated(t)
	var err error
	for _, db := range []**postgres.DB{&a, &b} {
		if *db, err = postgres.Open(ctx, url, postgres.Config{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { (*db).Close() })
	}
	u, err := a.CreateUser(ctx, store.NewUser{Email: "ann@example.com", Name: "Ann", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := a.CreateDocument(ctx, store.NewDocument{OwnerID: u.ID, Title: "leased"})
	if err != nil {
		t.Fatal(err)
	}
	return a, b, d.ID, u.ID
}

// insert is an op appending text to a document of docLen code points.
func insert(id, user, text string, docLen int) store.NewOp {
	return store.NewOp{ID: id, UserID: user, Op: ot.Insertion(docLen, docLen, text)}
}

// TestLeaseRace: nodes racing for one document's lease, many times over;
// exactly one of them gets it each round, and everyone is told who.
func TestLeaseRace(t *testing.T) {
	ctx := context.Background()
	a, b, doc, _ := leaseFixture(t)
	dbs := []*postgres.DB{a, b, a, b, a, b}
	var lastEpoch int64
	for round := range 20 {
		leases := make([]store.Lease, len(dbs))
		errs := make([]error, len(dbs))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, db := range dbs {
			wg.Go(func() {
				<-start
				leases[i], errs[i] = db.AcquireLease(ctx, doc, fmt.Sprintf("node-%d", i), time.Minute)
			})
		}
		close(start)
		wg.Wait()
		winners := map[string]int64{}
		for i, l := range leases {
			if errs[i] != nil {
				t.Fatalf("round %d: node %d: %v", round, i, errs[i])
			}
			winners[l.NodeID] = l.Epoch
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: the nodes disagree on the holder: %v", round, winners)
		}
		for holder, epoch := range winners {
			if epoch <= lastEpoch {
				t.Fatalf("round %d: epoch %d after %d", round, epoch, lastEpoch)
			}
			lastEpoch = epoch
			// Free it for the next round.
			if err := a.ReleaseLease(ctx, store.Lease{DocID: doc, NodeID: holder, Epoch: epoch}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestLeaseExpiry: a lease is the holder's until it expires on the
// database's clock, renewed by its holder, and then another node takes it
// with a higher epoch; the old holder's renewal no longer finds it.
func TestLeaseExpiry(t *testing.T) {
	ctx := context.Background()
	a, b, doc, _ := leaseFixture(t)
	if err := a.RegisterNode(ctx, "node-a", "http://127.0.0.1:1"); err != nil {
		t.Fatal(err)
	}
	la, err := a.AcquireLease(ctx, doc, "node-a", 400*time.Millisecond)
	if err != nil || la.NodeID != "node-a" || la.URL != "http://127.0.0.1:1" {
		t.Fatalf("first acquire: %+v, %v", la, err)
	}
	lb, err := b.AcquireLease(ctx, doc, "node-b", time.Minute)
	if err != nil || lb.NodeID != "node-a" || lb.Epoch != la.Epoch || lb.URL != "http://127.0.0.1:1" {
		t.Fatalf("acquire of a held lease: %+v, %v; want node-a's", lb, err)
	}
	for range 3 { // renewed, it outlives its first TTL
		time.Sleep(200 * time.Millisecond)
		held, err := a.RenewLeases(ctx, "node-a", 400*time.Millisecond)
		if err != nil || held[doc] != la.Epoch {
			t.Fatalf("renew: %v, %v", held, err)
		}
	}
	time.Sleep(500 * time.Millisecond) // no renewal: it lapses
	lb, err = b.AcquireLease(ctx, doc, "node-b", time.Minute)
	if err != nil || lb.NodeID != "node-b" || lb.Epoch != la.Epoch+1 {
		t.Fatalf("take over an expired lease: %+v, %v", lb, err)
	}
	held, err := a.RenewLeases(ctx, "node-a", time.Minute)
	if err != nil || len(held) != 0 {
		t.Fatalf("the old holder renewed %v (%v)", held, err)
	}
	if err := b.ReleaseNode(ctx, "node-b"); err != nil {
		t.Fatal(err)
	}
	la2, err := a.AcquireLease(ctx, doc, "node-a", time.Minute)
	if err != nil || la2.NodeID != "node-a" || la2.Epoch != lb.Epoch+1 {
		t.Fatalf("take a released lease: %+v, %v", la2, err)
	}
	if _, err := a.AcquireLease(ctx, "no-such-doc", "node-a", time.Minute); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("lease of a missing document: %v, want ErrNotFound", err)
	}
}

// TestFencedAppend: an append made under a lease that has moved on is
// refused, with ErrFenced, even at a version nobody else has written; the
// new holder's appends go on; an append under a lapsed lease that nobody
// took is refused too. Both the group-commit path and the snapshot path.
func TestFencedAppend(t *testing.T) {
	ctx := context.Background()
	a, b, doc, user := leaseFixture(t)
	old, err := a.AcquireLease(ctx, doc, "node-a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.AppendOpsUnder(ctx, old, 0, []store.NewOp{insert("a1", user, "a", 0)}); err != nil {
		t.Fatalf("append under a held lease: %v", err)
	}
	if err := a.ReleaseLease(ctx, old); err != nil {
		t.Fatal(err)
	}
	lb, err := b.AcquireLease(ctx, doc, "node-b", time.Minute)
	if err != nil || lb.NodeID != "node-b" {
		t.Fatalf("%+v %v", lb, err)
	}
	// Version 1 is the head: only the lease stands in the stale append's way.
	err = a.AppendOpsUnder(ctx, old, 1, []store.NewOp{insert("a2", user, "x", 1)})
	if !errors.Is(err, store.ErrFenced) {
		t.Fatalf("append under a lost lease: %v, want ErrFenced", err)
	}
	if code, _ := store.ErrorCode(err); code != store.CodeUnavailable {
		t.Errorf("a fenced append is %s to clients, want unavailable", code)
	}
	// 63 ops from head 1 reach the snapshot interval: the other path.
	many := make([]store.NewOp, store.DefaultSnapshotEvery-1)
	for i := range many {
		many[i] = insert(fmt.Sprintf("m%d", i), user, "y", 1+i)
	}
	if err := a.AppendOpsUnder(ctx, old, 1, many); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("snapshotting append under a lost lease: %v, want ErrFenced", err)
	}
	if err := b.AppendOpsUnder(ctx, lb, 1, []store.NewOp{insert("b1", user, "b", 1)}); err != nil {
		t.Fatalf("the new holder's append: %v", err)
	}
	short, err := b.AcquireLease(ctx, doc, "node-b", 50*time.Millisecond)
	if err != nil || short.Epoch != lb.Epoch+1 {
		t.Fatalf("take own lease again: %+v %v", short, err)
	}
	if err := b.AppendOpsUnder(ctx, lb, 2, []store.NewOp{insert("b2", user, "c", 2)}); !errors.Is(err, store.ErrFenced) {
		t.Errorf("append under an epoch its own node moved on from: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := b.AppendOpsUnder(ctx, short, 2, []store.NewOp{insert("b3", user, "d", 2)}); !errors.Is(err, store.ErrFenced) {
		t.Errorf("append under a lapsed lease: %v", err)
	}
	_, c, err := a.Load(ctx, doc)
	if err != nil || c.Version != 2 || c.Text != "ab" {
		t.Fatalf("stored: %+v %v; want version 2 \"ab\"", c, err)
	}
	// Without a lease (one node, no cluster) appends are as before.
	if err := a.AppendOps(ctx, doc, 2, []store.NewOp{insert("n1", user, "!", 2)}); err != nil {
		t.Fatal(err)
	}
}

// TestFenceWaitsForAppend: a node taking over a lease while the old
// holder's append is in its transaction waits for it, then sees its ops:
// no op the old holder stored can be missing from what the new one loads.
func TestFenceWaitsForAppend(t *testing.T) {
	ctx := context.Background()
	a, b, doc, user := leaseFixture(t)
	for round := range 30 {
		old, err := a.AcquireLease(ctx, doc, "node-a", 30*time.Millisecond)
		if err != nil || old.NodeID != "node-a" {
			t.Fatalf("%+v %v", old, err)
		}
		_, c, err := a.Load(ctx, doc)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			done <- a.AppendOpsUnder(ctx, old, c.Version, []store.NewOp{insert(fmt.Sprintf("r%d", round), user, "z", int(c.Version))})
		}()
		var lb store.Lease
		for {
			if lb, err = b.AcquireLease(ctx, doc, "node-b", time.Minute); err != nil {
				t.Fatal(err)
			}
			if lb.NodeID == "node-b" {
				break
			}
			time.Sleep(time.Millisecond)
		}
		_, after, err := b.Load(ctx, doc)
		if err != nil {
			t.Fatal(err)
		}
		appendErr := <-done
		switch {
		case appendErr == nil && after.Version != c.Version+1:
			t.Fatalf("round %d: the old holder stored version %d, the new one loaded %d", round, c.Version+1, after.Version)
		case appendErr != nil && !errors.Is(appendErr, store.ErrFenced):
			t.Fatalf("round %d: %v", round, appendErr)
		}
		if err := b.ReleaseLease(ctx, lb); err != nil {
			t.Fatal(err)
		}
	}
}
