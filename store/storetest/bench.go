package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"tandem/ot"
	"tandem/store"
)

// Bench runs the store benchmarks against the stores that open makes:
// appending in batches of 1 (one transaction per op), 8, 64 and 256, and
// loading a document with a 100,000-op history.
func Bench(b *testing.B, open Opener) {
	for _, size := range []int{1, 8, 64, 256} {
		b.Run(fmt.Sprintf("Append/batch=%d", size), func(b *testing.B) { benchAppend(b, open, size) })
	}
	b.Run("Load/history=100000", func(b *testing.B) { benchLoad(b, open, 100_000) })
}

// benchAppend appends b.N keystrokes to one 10,000-character document in
// batches of size and reports ops/s. Typing alternates with backspaces so the
// document keeps its size and the snapshots their cost.
func benchAppend(b *testing.B, open Opener, size int) {
	const docLen = 10_000
	ctx := context.Background()
	s := open(b, store.DefaultSnapshotEvery)
	ann := mustUser(b, s, "ann@example.com")
	d := mustDoc(b, s, ann, strings.Repeat("lorem ipsum\n", docLen/12)+strings.Repeat("x", docLen%12))
	head, seq := int64(0), 0
	batch := make([]store.NewOp, 0, size)
	start := time.Now()
	b.ResetTimer()
	for done := 0; done < b.N; {
		batch = batch[:0]
		for range min(size, b.N-done) {
			seq++
			op := ot.Insertion(docLen, docLen/2, "k")
			if seq%2 == 0 {
				op = ot.Deletion(docLen+1, docLen/2, 1)
			}
			batch = append(batch, store.NewOp{ID: fmt.Sprintf("k%d", seq), UserID: ann.ID, Op: op})
		}
		if err := s.AppendOps(ctx, d.ID, head, batch); err != nil {
			b.Fatal(err)
		}
		head += int64(len(batch))
		done += len(batch)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}

// benchLoad loads a document whose history has n operations.
func benchLoad(b *testing.B, open Opener, n int) {
	ctx := context.Background()
	s := open(b, store.DefaultSnapshotEvery)
	ann := mustUser(b, s, "ann@example.com")
	d := mustDoc(b, s, ann, "")
	r := rand.New(rand.NewPCG(1, 2))
	text := ""
	// Stop a few ops past a snapshot point, as a live document usually is.
	total := n + store.DefaultSnapshotEvery/2
	for head := 0; head < total; {
		batch := make([]store.NewOp, 0, 256)
		for range min(256, total-head) {
			op := randomEdit(r, utf8.RuneCountInString(text))
			text, _ = ot.Apply(text, op)
			batch = append(batch, store.NewOp{ID: fmt.Sprintf("h%d", head+len(batch)), UserID: ann.ID, Op: op})
		}
		if err := s.AppendOps(ctx, d.ID, int64(head), batch); err != nil {
			b.Fatal(err)
		}
		head += len(batch)
	}
	b.ResetTimer()
	for b.Loop() {
		_, c, err := s.Load(ctx, d.ID)
		if err != nil {
			b.Fatal(err)
		}
		if c.Text != text {
			b.Fatal("loaded text differs from the history")
		}
	}
	b.ReportMetric(float64(utf8.RuneCountInString(text)), "chars")
}
