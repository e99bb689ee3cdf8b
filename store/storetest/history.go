package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"tandem/ot"
	"tandem/store"
)

func testAppendAndRead(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, store.DefaultSnapshotEvery)
	ann := mustUser(t, s, "ann@example.com")
	d := mustDoc(t, s, ann, "ab")

	// One batch of three, then one of one.
	batch := []store.NewOp{
		{ID: "x1", UserID: ann.ID, Op: ot.Insertion(2, 1, "é")},
		{ID: "x2", UserID: ann.ID, Op: ot.Insertion(3, 3, "😀")},
		{ID: "x3", UserID: ann.ID, Op: ot.Deletion(4, 0, 1)},
	}
	must(t, s.AppendOps(ctx, d.ID, 0, batch), "append batch")
	must(t, s.AppendOps(ctx, d.ID, 3, []store.NewOp{{ID: "x4", UserID: ann.ID, Op: ot.Insertion(3, 3, "!")}}), "append one")

	doc, err := s.Document(ctx, d.ID)
	must(t, err, "document")
	if doc.Version != 4 || !doc.UpdatedAt.After(d.UpdatedAt) && !doc.UpdatedAt.Equal(d.UpdatedAt) {
		t.Errorf("after 4 ops document = %+v", doc)
	}
	recs, err := s.Ops(ctx, d.ID, 1, 4, store.Page{})
	must(t, err, "ops")
	if len(recs) != 4 {
		t.Fatalf("Ops(1..4) returned %d records", len(recs))
	}
	for i, rec := range recs {
		if rec.Version != int64(i+1) || rec.ID != fmt.Sprintf("x%d", i+1) || rec.UserID != ann.ID || rec.Time.IsZero() {
			t.Errorf("record %d = %+v", i, rec)
		}
	}
	if !recs[1].Op.Equal(batch[1].Op) {
		t.Errorf("stored op %s, want %s", recs[1].Op, batch[1].Op)
	}

	// Ranges and paging.
	page, err := s.Ops(ctx, d.ID, 2, 4, store.Page{Limit: 2})
	must(t, err, "page")
	if len(page) != 2 || page[0].Version != 2 || page[1].Version != 3 {
		t.Errorf("Ops(2..4, limit 2) = %v", versions(page))
	}
	// A byte bound ends the page after the op that reaches it; the first op
	// comes whatever its size.
	wire1 := recs[0].Op.String() // the stored (wire) form
	for _, tc := range []struct {
		page store.Page
		want int
	}{
		{store.Page{MaxBytes: 1}, 1},
		{store.Page{MaxBytes: len(wire1)}, 1},
		{store.Page{MaxBytes: len(wire1) + 1}, 2},
		{store.Page{MaxBytes: 1 << 20}, 4},
		{store.Page{Limit: 3, MaxBytes: 1 << 20}, 3},
	} {
		got, err := s.Ops(ctx, d.ID, 1, 4, tc.page)
		must(t, err, "page by bytes")
		if len(got) != tc.want || got[0].Version != 1 {
			t.Errorf("Ops(1..4, %+v) = versions %v, want the first %d", tc.page, versions(got), tc.want)
		}
	}
	if none, err := s.Ops(ctx, d.ID, 5, 10, store.Page{}); err != nil || len(none) != 0 {
		t.Errorf("Ops past head = %v, %v; want none", versions(none), err)
	}
	_, err = s.Ops(ctx, "nope", 1, 2, store.Page{})
	wantErr(t, err, store.ErrNotFound, "ops of unknown document")

	wantTexts := []string{"ab", "aéb", "aéb😀", "éb😀", "éb😀!"}
	for v, want := range wantTexts {
		c, err := s.ContentAt(ctx, d.ID, int64(v))
		must(t, err, fmt.Sprintf("content at %d", v))
		if c.Text != want || c.Version != int64(v) {
			t.Errorf("ContentAt(%d) = %q@%d, want %q", v, c.Text, c.Version, want)
		}
	}
	_, err = s.ContentAt(ctx, d.ID, 5)
	wantErr(t, err, store.ErrNotFound, "content past head")
	_, err = s.ContentAt(ctx, d.ID, -1)
	wantErr(t, err, store.ErrNotFound, "negative version")
	loaded, c, err := s.Load(ctx, d.ID)
	must(t, err, "load")
	if loaded.Version != 4 || c.Version != 4 || c.Text != "éb😀!" {
		t.Errorf("Load = %+v, %+v", loaded, c)
	}
}

func testAppendErrors(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, store.DefaultSnapshotEvery)
	ann := mustUser(t, s, "ann@example.com")
	d := mustDoc(t, s, ann, "")
	op := func(id string) store.NewOp { return store.NewOp{ID: id, UserID: ann.ID, Op: ot.Insertion(0, 0, "x")} }

	wantErr(t, s.AppendOps(ctx, d.ID, 0, nil), store.ErrInvalid, "empty batch")
	wantErr(t, s.AppendOps(ctx, d.ID, 0, []store.NewOp{op("")}), store.ErrInvalid, "empty op id")
	wantErr(t, s.AppendOps(ctx, d.ID, 0, []store.NewOp{op(strings.Repeat("i", store.MaxOpIDLen+1))}), store.ErrInvalid, "long op id")
	wantErr(t, s.AppendOps(ctx, d.ID, 0, []store.NewOp{op("a"), op("a")}), store.ErrInvalid, "id repeated in a batch")
	wantErr(t, s.AppendOps(ctx, "nope", 0, []store.NewOp{op("a")}), store.ErrNotFound, "unknown document")
	wantErr(t, s.AppendOps(ctx, d.ID, 1, []store.NewOp{op("a")}), store.ErrConflict, "head ahead of the document")

	must(t, s.AppendOps(ctx, d.ID, 0, []store.NewOp{op("a")}), "first append")
	err := s.AppendOps(ctx, d.ID, 0, []store.NewOp{op("b")})
	wantErr(t, err, store.ErrConflict, "stale head")
	if errors.Is(err, store.ErrDuplicate) {
		t.Errorf("a stale head is not a duplicate: %v", err)
	}
	if doc, err := s.Document(ctx, d.ID); err != nil || doc.Version != 1 {
		t.Errorf("after failed appends the document = %+v, %v; want version 1", doc, err)
	}
}

func testDuplicate(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, store.DefaultSnapshotEvery)
	ann := mustUser(t, s, "ann@example.com")
	d := mustDoc(t, s, ann, "")
	_, batches := typing("", 3, "op", ann.ID)
	for i, b := range batches {
		must(t, s.AppendOps(ctx, d.ID, int64(i), b), "append")
	}

	// Re-sending op-2 in a new batch, with a fresh op: all or nothing.
	resend := []store.NewOp{{ID: "fresh", UserID: ann.ID, Op: ot.Insertion(3, 3, "z")}, batches[1][0]}
	err := s.AppendOps(ctx, d.ID, 3, resend)
	wantErr(t, err, store.ErrDuplicate, "re-sent op")
	var dup *store.DuplicateError
	if !errors.As(err, &dup) || dup.OpID != "op-2" || dup.UserID != ann.ID || dup.Version != 2 || dup.DocID != d.ID {
		t.Fatalf("duplicate error = %#v, want op-2 at version 2", dup)
	}
	doc, err := s.Document(ctx, d.ID)
	must(t, err, "document")
	if doc.Version != 3 {
		t.Errorf("a failed batch moved the version to %d", doc.Version)
	}
	if recs, err := s.Ops(ctx, d.ID, 1, 10, store.Page{}); err != nil || len(recs) != 3 {
		t.Errorf("after the re-send the history has %d ops (%v), want 3", len(recs), err)
	}
	// Op ids are per document and author: another document, or another
	// author, may use the same one.
	other := mustDoc(t, s, ann, "")
	must(t, s.AppendOps(ctx, other.ID, 0, batches[0]), "same op id in another document")
	bob := mustUser(t, s, "bob@example.com")
	sameID := []store.NewOp{{ID: "op-1", UserID: bob.ID, Op: ot.Insertion(3, 0, "b")}}
	must(t, s.AppendOps(ctx, d.ID, 3, sameID), "another author's op with the same id")

	// Where an author's op id is stored.
	for _, tc := range []struct {
		user, id string
		want     int64
	}{{ann.ID, "op-2", 2}, {bob.ID, "op-1", 4}, {ann.ID, "fresh", 0}, {bob.ID, "op-2", 0}, {ann.ID, "a\x00", 0}} {
		v, err := s.OpVersion(ctx, d.ID, tc.user, tc.id)
		if tc.want == 0 {
			wantErr(t, err, store.ErrNotFound, "version of op "+tc.id)
		} else if err != nil || v != tc.want {
			t.Errorf("OpVersion(%s) = %d, %v; want %d", tc.id, v, err, tc.want)
		}
	}
	_, err = s.OpVersion(ctx, "nope", ann.ID, "op-1")
	wantErr(t, err, store.ErrNotFound, "op version in an unknown document")
}

func testSnapshots(t *testing.T, open Opener) {
	const every, total = 50, 2000
	ctx := context.Background()
	s := open(t, every)
	ann := mustUser(t, s, "ann@example.com")
	d := mustDoc(t, s, ann, "start\n")

	// A random history, appended in batches of 1 to 70 (some batches cross
	// several snapshot points); texts[v] is the content at version v.
	r := rand.New(rand.NewPCG(7, 11))
	texts := []string{"start\n"}
	var ops []store.NewOp
	for v := 1; v <= total; v++ {
		cur := texts[len(texts)-1]
		op := randomEdit(r, utf8.RuneCountInString(cur))
		next, err := ot.Apply(cur, op)
		must(t, err, "apply")
		texts = append(texts, next)
		ops = append(ops, store.NewOp{ID: fmt.Sprintf("s%d", v), UserID: ann.ID, Op: op})
	}
	for head := 0; head < total; {
		n := min(1+r.IntN(70), total-head)
		must(t, s.AppendOps(ctx, d.ID, int64(head), ops[head:head+n]), "append")
		head += n
	}

	for v := 0; v <= total; v++ {
		c, err := s.ContentAt(ctx, d.ID, int64(v))
		must(t, err, fmt.Sprintf("content at %d", v))
		if c.Text != texts[v] {
			t.Fatalf("content at %d = %q, want %q", v, c.Text, texts[v])
		}
		if c.Replayed >= every || c.Replayed != v%every {
			t.Fatalf("content at %d replayed %d ops, want %d (< %d)", v, c.Replayed, v%every, every)
		}
	}
	doc, c, err := s.Load(ctx, d.ID)
	must(t, err, "load")
	if doc.Version != total || c.Text != texts[total] || c.Replayed != 0 {
		t.Errorf("Load = version %d, replayed %d", doc.Version, c.Replayed)
	}
}

// randomEdit is a typing-like edit: insert a few characters, or delete some.
func randomEdit(r *rand.Rand, n int) ot.Op {
	pos := r.IntN(n + 1)
	if n > 0 && r.IntN(3) == 0 {
		return ot.Deletion(n, min(pos, n-1), 1+r.IntN(min(3, n-min(pos, n-1))))
	}
	return ot.Insertion(n, pos, typed[r.IntN(len(typed))]+typed[r.IntN(len(typed))])
}

// testRace has 8 writers append to one document at once, each always at the
// head it last saw, and re-send ops they already stored. The store must keep
// one gap-free history with each op exactly once, refuse the losers with
// ErrConflict and answer the re-sends with their first version.
func testRace(t *testing.T, open Opener) {
	const writers, target = 8, 240
	ctx := context.Background()
	s := open(t, 20) // snapshots are written while the writers race
	ann := mustUser(t, s, "ann@example.com")
	d := mustDoc(t, s, ann, "")

	var conflicts, resends atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 99))
			stored := map[string]int64{} // this writer's ops that made it
			for seq := 0; ; seq++ {
				doc, c, err := s.Load(ctx, d.ID)
				if err != nil {
					errs <- err
					return
				}
				if doc.Version >= target {
					return
				}
				if len(stored) > 0 && r.IntN(4) == 0 {
					// Re-send an op that is already stored.
					for id, v := range stored {
						err := s.AppendOps(ctx, d.ID, doc.Version, []store.NewOp{{ID: id, UserID: ann.ID, Op: ot.Identity(utf8.RuneCountInString(c.Text))}})
						var dup *store.DuplicateError
						if !errors.As(err, &dup) || dup.Version != v {
							errs <- fmt.Errorf("re-send of %s (version %d): %v", id, v, err)
							return
						}
						resends.Add(1)
						break
					}
				}
				n := 1 + r.IntN(3)
				batch := make([]store.NewOp, n)
				text := c.Text
				for i := range batch {
					op := randomEdit(r, utf8.RuneCountInString(text))
					text, _ = ot.Apply(text, op)
					batch[i] = store.NewOp{ID: fmt.Sprintf("w%d-%d-%d", w, seq, i), UserID: ann.ID, Op: op}
				}
				err = s.AppendOps(ctx, d.ID, doc.Version, batch)
				switch {
				case errors.Is(err, store.ErrConflict):
					conflicts.Add(1)
				case err != nil:
					errs <- fmt.Errorf("append at %d: %w", doc.Version, err)
					return
				default:
					for i, op := range batch {
						stored[op.ID] = doc.Version + int64(i) + 1
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	doc, c, err := s.Load(ctx, d.ID)
	must(t, err, "load")
	recs, err := s.Ops(ctx, d.ID, 1, doc.Version, store.Page{})
	must(t, err, "ops")
	if int64(len(recs)) != doc.Version || doc.Version < target {
		t.Fatalf("history has %d ops, document version %d (target %d)", len(recs), doc.Version, target)
	}
	seen := map[string]bool{}
	text := ""
	for i, rec := range recs {
		if rec.Version != int64(i+1) {
			t.Fatalf("gap: record %d has version %d", i, rec.Version)
		}
		if seen[rec.ID] {
			t.Fatalf("op %s stored twice", rec.ID)
		}
		seen[rec.ID] = true
		if text, err = ot.Apply(text, rec.Op); err != nil {
			t.Fatalf("version %d does not apply: %v", rec.Version, err)
		}
	}
	if text != c.Text {
		t.Errorf("replayed history %q differs from loaded content %q", text, c.Text)
	}
	if conflicts.Load() == 0 {
		t.Errorf("8 writers never conflicted: the race did not happen")
	}
	t.Logf("%d ops, %d conflicts, %d re-sends answered", len(recs), conflicts.Load(), resends.Load())
}

func testCancelled(t *testing.T, open Opener) {
	s := open(t, store.DefaultSnapshotEvery)
	ann := mustUser(t, s, "ann@example.com")
	d := mustDoc(t, s, ann, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.AppendOps(ctx, d.ID, 0, []store.NewOp{{ID: "a", UserID: ann.ID, Op: ot.Insertion(0, 0, "x")}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("append with a cancelled context: err = %v, want context.Canceled", err)
	}
	if _, err := s.User(ctx, ann.ID); !errors.Is(err, context.Canceled) {
		t.Errorf("read with a cancelled context: err = %v, want context.Canceled", err)
	}
	if doc, err := s.Document(context.Background(), d.ID); err != nil || doc.Version != 0 {
		t.Errorf("cancelled append changed the document: %+v, %v", doc, err)
	}
}

func versions(recs []store.OpRecord) []int64 {
	vs := make([]int64, len(recs))
	for i, r := range recs {
		vs[i] = r.Version
	}
	return vs
}

// testManyDocuments has one writer per document, all at once, as rooms do:
// the stores group-commit appends across documents, so one append that fails
// (a re-send, a stale head) must fail alone, and every other document's
// appends in the same commit must be stored, once and in order.
func testManyDocuments(t *testing.T, open Opener) {
	const docs, perDoc = 16, 40
	ctx := context.Background()
	s := open(t, store.DefaultSnapshotEvery) // fewer ops than that: no snapshots
	ann := mustUser(t, s, "ann@example.com")
	ids := make([]string, docs)
	for i := range ids {
		ids[i] = mustDoc(t, s, ann, "").ID
	}
	var wg sync.WaitGroup
	errs := make(chan error, docs)
	for d, docID := range ids {
		wg.Go(func() {
			text := ""
			for v := range int64(perDoc) {
				op := ot.Insertion(utf8.RuneCountInString(text), 0, string(rune('a'+d)))
				if err := s.AppendOps(ctx, docID, v, []store.NewOp{{ID: fmt.Sprintf("op-%d", v), UserID: ann.ID, Op: op}}); err != nil {
					errs <- fmt.Errorf("doc %d: append at %d: %w", d, v, err)
					return
				}
				text, _ = ot.Apply(text, op)
				if v > 0 && v%5 == 0 {
					// A re-send of the previous op, and an append at a stale head.
					err := s.AppendOps(ctx, docID, v+1, []store.NewOp{{ID: fmt.Sprintf("op-%d", v-1), UserID: ann.ID, Op: ot.Identity(int(v + 1))}})
					var dup *store.DuplicateError
					if !errors.As(err, &dup) || dup.Version != v {
						errs <- fmt.Errorf("doc %d: re-send of op-%d: %v", d, v-1, err)
						return
					}
					err = s.AppendOps(ctx, docID, v, []store.NewOp{{ID: fmt.Sprintf("stale-%d", v), UserID: ann.ID, Op: ot.Identity(int(v))}})
					if !errors.Is(err, store.ErrConflict) {
						errs <- fmt.Errorf("doc %d: append at a stale head: %v", d, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for d, docID := range ids {
		doc, c, err := s.Load(ctx, docID)
		must(t, err, "load")
		if want := strings.Repeat(string(rune('a'+d)), perDoc); doc.Version != perDoc || c.Text != want {
			t.Errorf("doc %d: version %d, text %q; want %d, %q", d, doc.Version, c.Text, perDoc, want)
		}
	}
}
