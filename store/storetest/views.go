package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"tandem/ot"
	"tandem/store"
)

func testNamedVersions(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, store.DefaultSnapshotEvery)
	ann := mustUser(t, s, "ann@example.com")
	d := mustDoc(t, s, ann, "")
	_, batches := typing("", 3, "op", ann.ID)
	for i, b := range batches {
		must(t, s.AppendOps(ctx, d.ID, int64(i), b), "append")
	}

	list, err := s.NamedVersions(ctx, d.ID)
	must(t, err, "list none")
	if len(list) != 0 {
		t.Errorf("a new document has named versions %+v", list)
	}
	first, err := s.SaveVersion(ctx, store.NewNamedVersion{DocID: d.ID, Version: 0, Name: "blank", UserID: ann.ID})
	must(t, err, "save version 0")
	if first.ID == "" || first.Version != 0 || first.Name != "blank" || first.UserID != ann.ID || first.UserName != ann.Name || first.CreatedAt.IsZero() {
		t.Errorf("saved %+v", first)
	}
	// A saver without an account (history outlives accounts) has no name.
	ghost, err := s.SaveVersion(ctx, store.NewNamedVersion{DocID: d.ID, Version: 3, Name: "draft ✓", UserID: "gone"})
	must(t, err, "save version 3")
	if ghost.UserName != "" {
		t.Errorf("a saver with no account is named %q", ghost.UserName)
	}

	for _, tc := range []struct {
		name string
		nv   store.NewNamedVersion
		want error
	}{
		{"past head", store.NewNamedVersion{DocID: d.ID, Version: 4, Name: "x", UserID: ann.ID}, store.ErrInvalid},
		{"negative", store.NewNamedVersion{DocID: d.ID, Version: -1, Name: "x", UserID: ann.ID}, store.ErrInvalid},
		{"NUL in name", store.NewNamedVersion{DocID: d.ID, Version: 1, Name: "a\x00", UserID: ann.ID}, store.ErrInvalid},
		{"unknown document", store.NewNamedVersion{DocID: "nope", Version: 0, Name: "x", UserID: ann.ID}, store.ErrNotFound},
		{"NUL in document id", store.NewNamedVersion{DocID: "a\x00", Version: 0, Name: "x", UserID: ann.ID}, store.ErrNotFound},
	} {
		_, err := s.SaveVersion(ctx, tc.nv)
		wantErr(t, err, tc.want, tc.name)
	}

	list, err = s.NamedVersions(ctx, d.ID)
	must(t, err, "list")
	if len(list) != 2 || !slices.ContainsFunc(list, func(v store.NamedVersion) bool { return v.ID == first.ID }) ||
		!slices.ContainsFunc(list, func(v store.NamedVersion) bool { return v.ID == ghost.ID }) {
		t.Fatalf("list = %+v", list)
	}
	if list[0].CreatedAt.Before(list[1].CreatedAt) {
		t.Errorf("not newest first: %+v", list)
	}
	got, err := s.NamedVersion(ctx, d.ID, ghost.ID)
	must(t, err, "get")
	if got.ID != ghost.ID || got.Name != ghost.Name || got.Version != 3 || !sameTime(got.CreatedAt, ghost.CreatedAt) {
		t.Errorf("NamedVersion = %+v, want %+v", got, ghost)
	}
	other := mustDoc(t, s, ann, "")
	_, err = s.NamedVersion(ctx, other.ID, ghost.ID)
	wantErr(t, err, store.ErrNotFound, "a version through another document")
	wantErr(t, s.DeleteNamedVersion(ctx, other.ID, ghost.ID), store.ErrNotFound, "delete through another document")
	_, err = s.NamedVersions(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "list of an unknown document")

	must(t, s.DeleteNamedVersion(ctx, d.ID, ghost.ID), "delete")
	wantErr(t, s.DeleteNamedVersion(ctx, d.ID, ghost.ID), store.ErrNotFound, "delete twice")
	if list, _ := s.NamedVersions(ctx, d.ID); len(list) != 1 || list[0].ID != first.ID {
		t.Errorf("after the delete: %+v", list)
	}

	// The cap holds with savers racing.
	var wg sync.WaitGroup
	var mu sync.Mutex
	saved, refused := 1, 0
	for w := range 8 {
		wg.Go(func() {
			for i := range store.MaxNamedVersions/8 + 10 {
				_, err := s.SaveVersion(ctx, store.NewNamedVersion{DocID: d.ID, Version: 1, Name: fmt.Sprintf("w%d-%d", w, i), UserID: ann.ID})
				mu.Lock()
				switch {
				case err == nil:
					saved++
				case errors.Is(err, store.ErrConflict):
					refused++
				default:
					t.Errorf("save: %v", err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if list, _ := s.NamedVersions(ctx, d.ID); saved != store.MaxNamedVersions || len(list) != store.MaxNamedVersions || refused == 0 {
		t.Errorf("saved %d, refused %d, listed %d; want %d saved", saved, refused, len(list), store.MaxNamedVersions)
	}

	// Deleting the document deletes its named versions.
	must(t, s.DeleteDocument(ctx, d.ID), "delete document")
	_, err = s.NamedVersion(ctx, d.ID, first.ID)
	wantErr(t, err, store.ErrNotFound, "a version of a deleted document")
}

func testUserNames(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, store.DefaultSnapshotEvery)
	ann := mustUser(t, s, "ann@example.com")
	bob := mustUser(t, s, "bob@example.com")
	names, err := s.UserNames(ctx, []string{ann.ID, bob.ID, ann.ID, "nobody", "a\x00"})
	must(t, err, "user names")
	if len(names) != 2 || names[ann.ID] != ann.Name || names[bob.ID] != bob.Name {
		t.Errorf("UserNames = %v", names)
	}
	if names, err := s.UserNames(ctx, nil); err != nil || len(names) != 0 {
		t.Errorf("UserNames(nil) = %v, %v", names, err)
	}
}

// history appends n random edits by the users, in batches of 1 to 300,
// with a moving clock where the store has one, and returns what was stored.
func randomHistory(t *testing.T, s store.Store, d store.Document, text string, n int, users []store.User, seed uint64) []store.OpRecord {
	t.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, 5))
	head := int(d.Version)
	for done := 0; done < n; {
		batch := make([]store.NewOp, 0, 300)
		for range min(1+r.IntN(300), n-done) {
			op := randomEdit(r, utf8.RuneCountInString(text))
			text, _ = ot.Apply(text, op)
			u := users[r.IntN(len(users))]
			if r.IntN(4) > 0 && len(batch) > 0 {
				u = store.User{ID: batch[len(batch)-1].UserID} // runs of one author
			}
			batch = append(batch, store.NewOp{ID: fmt.Sprintf("r%d-%d", seed, head+len(batch)), UserID: u.ID, Op: op})
		}
		must(t, s.AppendOps(ctx, d.ID, int64(head), batch), "append")
		head += len(batch)
		done += len(batch)
	}
	recs, err := s.Ops(ctx, d.ID, d.Version+1, int64(head), store.Page{})
	must(t, err, "ops")
	return recs
}

// wantTimeline is a timeline built from every op, the slow way.
func wantTimeline(recs []store.OpRecord, buckets int) []store.Activity {
	head := int64(len(recs))
	step := store.TimelineStep(head, buckets)
	var out []store.Activity
	for from := int64(1); from <= head; from += step {
		a := store.Activity{From: from, To: min(from+step-1, head)}
		for _, rec := range recs[from-1 : a.To] {
			if a.Ops == 0 {
				a.Start = rec.Time
			}
			a.End = rec.Time
			a.Ops++
			if i := slices.IndexFunc(a.Authors, func(x store.AuthorOps) bool { return x.UserID == rec.UserID }); i >= 0 {
				a.Authors[i].Ops++
			} else {
				a.Authors = append(a.Authors, store.AuthorOps{UserID: rec.UserID, Ops: 1})
			}
		}
		out = append(out, a)
	}
	return out
}

func checkTimeline(t *testing.T, s store.Store, docID string, recs []store.OpRecord, buckets int) {
	t.Helper()
	head, got, err := s.Timeline(context.Background(), docID, buckets)
	must(t, err, "timeline")
	want := wantTimeline(recs, buckets)
	if head != int64(len(recs)) || len(got) != len(want) {
		t.Fatalf("Timeline(%d buckets) = version %d, %d buckets; want %d, %d", buckets, head, len(got), len(recs), len(want))
	}
	if len(got) > buckets {
		t.Errorf("Timeline(%d buckets) has %d", buckets, len(got))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.From != w.From || g.To != w.To || g.Ops != w.Ops || !sameTime(g.Start, w.Start) || !sameTime(g.End, w.End) || !slices.Equal(g.Authors, w.Authors) {
			t.Fatalf("Timeline(%d buckets) bucket %d = %+v, want %+v", buckets, i, g, w)
		}
	}
}

func testTimeline(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, store.DefaultSnapshotEvery)
	ann, bob, cat := mustUser(t, s, "ann@example.com"), mustUser(t, s, "bob@example.com"), mustUser(t, s, "cat@example.com")
	d := mustDoc(t, s, ann, "start\n")

	head, got, err := s.Timeline(ctx, d.ID, 100)
	must(t, err, "timeline at version 0")
	if head != 0 || got == nil || len(got) != 0 {
		t.Errorf("Timeline at version 0 = %d, %+v; want 0, []", head, got)
	}
	_, _, err = s.Timeline(ctx, "nope", 100)
	wantErr(t, err, store.ErrNotFound, "timeline of an unknown document")
	_, _, err = s.Timeline(ctx, d.ID, 0)
	wantErr(t, err, store.ErrInvalid, "zero buckets")

	// A short history: exact buckets.
	recs := randomHistory(t, s, d, "start\n", 250, []store.User{ann, bob, cat}, 1)
	for _, n := range []int{1, 3, 100, 249, 250, 1000} {
		checkTimeline(t, s, d.ID, recs, n)
	}

	// A long one: buckets of whole chunks, from the summaries, then more
	// history (a chunk completed since, and a tail), then a longer one.
	doc, c, err := s.Load(ctx, d.ID)
	must(t, err, "load")
	recs = append(recs, randomHistory(t, s, doc, c.Text, store.ExactTimeline-200, []store.User{ann, bob, cat}, 2)...)
	for _, n := range []int{1, 7, 100, 1000} {
		checkTimeline(t, s, d.ID, recs, n)
	}
	doc, c, err = s.Load(ctx, d.ID)
	must(t, err, "load")
	recs = append(recs, randomHistory(t, s, doc, c.Text, 1234, []store.User{ann, bob}, 3)...)
	for _, n := range []int{1, 7, 100, 1000} {
		checkTimeline(t, s, d.ID, recs, n)
	}
	if step := store.TimelineStep(int64(len(recs)), 1000); step%store.ActivityChunk != 0 {
		t.Errorf("a history of %d has buckets of %d versions", len(recs), step)
	}
}

// wantBlame is the blame of the text after recs, kept one code point at a
// time.
func wantBlame(initial, creator string, recs []store.OpRecord) []store.Span {
	var who []string
	for range utf8.RuneCountInString(initial) {
		who = append(who, creator)
	}
	for _, rec := range recs {
		var next []string
		i := 0
		for c := range rec.Op.Components() {
			switch {
			case c.Insert != "":
				for range utf8.RuneCountInString(c.Insert) {
					next = append(next, rec.UserID)
				}
			case c.Retain > 0:
				next = append(next, who[i:i+c.Retain]...)
				i += c.Retain
			default:
				i += c.Delete
			}
		}
		who = next
	}
	spans := []store.Span{}
	for _, u := range who {
		if n := len(spans); n > 0 && spans[n-1].UserID == u {
			spans[n-1].Length++
		} else {
			spans = append(spans, store.Span{Length: 1, UserID: u})
		}
	}
	return spans
}

func testBlame(t *testing.T, open Opener) {
	const every = 20
	ctx := context.Background()
	s := open(t, every)
	ann, bob, cat := mustUser(t, s, "ann@example.com"), mustUser(t, s, "bob@example.com"), mustUser(t, s, "cat@example.com")
	d := mustDoc(t, s, ann, "start é😀\n")

	spans, err := s.Blame(ctx, d.ID, 0)
	must(t, err, "blame at 0")
	if len(spans) != 1 || spans[0] != (store.Span{Length: 9, UserID: ann.ID}) {
		t.Errorf("blame at 0 = %+v", spans)
	}
	empty := mustDoc(t, s, bob, "")
	if spans, err := s.Blame(ctx, empty.ID, 0); err != nil || spans == nil || len(spans) != 0 {
		t.Errorf("blame of an empty document = %+v, %v; want []", spans, err)
	}

	recs := randomHistory(t, s, d, "start é😀\n", 700, []store.User{bob, cat, ann}, 4)
	// Versions in a random order, so that blames start from checkpoints
	// written by others, from ones missing, and from none.
	r := rand.New(rand.NewPCG(9, 9))
	versions := r.Perm(len(recs) + 1)
	for _, v := range versions[:150] {
		got, err := s.Blame(ctx, d.ID, int64(v))
		must(t, err, fmt.Sprintf("blame at %d", v))
		if want := wantBlame("start é😀\n", ann.ID, recs[:v]); !slices.Equal(got, want) {
			t.Fatalf("blame at %d = %v, want %v", v, got, want)
		}
	}
	for _, v := range []int64{-1, int64(len(recs)) + 1} {
		_, err := s.Blame(ctx, d.ID, v)
		wantErr(t, err, store.ErrNotFound, fmt.Sprintf("blame at %d", v))
	}
	_, err = s.Blame(ctx, "nope", 0)
	wantErr(t, err, store.ErrNotFound, "blame of an unknown document")

	// Every version once more, now that checkpoints exist, against time.
	start := time.Now()
	for v := range len(recs) + 1 {
		got, err := s.Blame(ctx, d.ID, int64(v))
		must(t, err, fmt.Sprintf("blame at %d", v))
		if want := wantBlame("start é😀\n", ann.ID, recs[:v]); !slices.Equal(got, want) {
			t.Fatalf("blame at %d = %v, want %v", v, got, want)
		}
	}
	t.Logf("%d blames in %v", len(recs)+1, time.Since(start))

	// First blames of a document, many at once: they all write the same
	// checkpoints, and must neither fail nor wait on each other for good
	// (as blames holding a connection each while waiting for another to
	// write would, once they outnumber a pool's connections).
	fresh := mustDoc(t, s, ann, "x")
	more := randomHistory(t, s, fresh, "x", 300, []store.User{ann, bob}, 5)
	want := wantBlame("x", ann.ID, more)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			got, err := s.Blame(ctx, fresh.ID, int64(len(more)))
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("a concurrent first blame: %v, %v", got, err)
			}
		})
	}
	wg.Wait()
}
