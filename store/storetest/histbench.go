package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"tandem/ot"
	"tandem/store"
)

// BenchHistory runs the benchmarks of what a history panel asks of a
// document with a 100,000-op history by three authors: the content at a
// random version, the timeline (100 and 1,000 buckets) and the blame at a
// random version. The history is appended once, through AppendOps in
// batches of 256 (the sequencer's group commit, snapshots included), and
// shared by the benchmarks. Each reports, besides ns/op, the 50th and 99th
// percentile of its iterations (p50-ms, p99-ms); the timeline and the blame
// also what their first call, made once before, cost (first-ms): it writes
// the chunk summaries, or the blame checkpoints, of the whole history.
func BenchHistory(b *testing.B, open Opener) {
	const n = 100_000
	ctx := context.Background()
	s := open(b, store.DefaultSnapshotEvery)
	users := []store.User{mustUser(b, s, "ann@example.com"), mustUser(b, s, "bob@example.com"), mustUser(b, s, "cat@example.com")}
	d := mustDoc(b, s, users[0], "")
	// The versions asked for, at random, and the texts there (keeping
	// every version's would take gigabytes).
	r := rand.New(rand.NewPCG(1, 1))
	sample := make([]int64, 4096)
	texts := map[int64]string{}
	for i := range sample {
		sample[i] = r.Int64N(n + 1)
		texts[sample[i]] = ""
	}
	start := time.Now()
	lengths := appendHistory(b, s, d.ID, n, users, texts)
	b.Logf("appended %d ops in %v; %d characters at the end", n, time.Since(start).Round(time.Millisecond), lengths[n])

	b.Run("ContentAt/history=100000", func(b *testing.B) {
		i := 0
		timed(b, 0, func() {
			v := sample[i%len(sample)]
			i++
			c, err := s.ContentAt(ctx, d.ID, v)
			if err != nil || c.Text != texts[v] {
				b.Fatalf("content at %d: %v", v, err)
			}
		})
	})
	// The first timeline writes the chunk summaries, and the first blame
	// (at the head) the checkpoints: once per document, timed apart.
	first := map[string]time.Duration{}
	for _, buckets := range []int{100, 1000} {
		name := fmt.Sprintf("Timeline/history=100000/buckets=%d", buckets)
		start := time.Now()
		if _, _, err := s.Timeline(ctx, d.ID, buckets); err != nil {
			b.Fatal(err)
		}
		first[name] = time.Since(start)
		b.Run(name, func(b *testing.B) {
			timed(b, first[name], func() {
				head, acts, err := s.Timeline(ctx, d.ID, buckets)
				if err != nil || head != n || len(acts) == 0 || acts[len(acts)-1].To != n {
					b.Fatalf("timeline: %d buckets to %d, %v", len(acts), head, err)
				}
			})
		})
	}
	start = time.Now()
	spans, err := s.Blame(ctx, d.ID, n)
	if err != nil {
		b.Fatal(err)
	}
	first["Blame"] = time.Since(start)
	b.Logf("first timeline %v, first blame %v (%d spans at the head)", first["Timeline/history=100000/buckets=100"], first["Blame"], len(spans))
	b.Run("Blame/history=100000", func(b *testing.B) {
		i := 0
		timed(b, first["Blame"], func() {
			v := sample[(i*7+3)%len(sample)]
			i++
			spans, err := s.Blame(ctx, d.ID, v)
			total := 0
			for _, sp := range spans {
				total += sp.Length
			}
			if err != nil || total != lengths[v] {
				b.Fatalf("blame at %d: %d code points, %v", v, total, err)
			}
		})
	})
}

// appendHistory appends n random edits to a document, in batches of 256,
// by users in turns of a few dozen ops. It returns the text's length at
// every version, and fills in texts the text at each version it has a key
// for.
func appendHistory(b *testing.B, s store.Store, docID string, n int, users []store.User, texts map[int64]string) []int {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	lengths := make([]int, 1, n+1)
	text, author := "", 0
	for head := 0; head < n; {
		batch := make([]store.NewOp, 0, 256)
		for range min(256, n-head) {
			if r.IntN(40) == 0 {
				author = r.IntN(len(users))
			}
			op := randomEdit(r, lengths[len(lengths)-1])
			text, _ = ot.Apply(text, op)
			lengths = append(lengths, op.TargetLen())
			if _, ok := texts[int64(len(lengths)-1)]; ok {
				texts[int64(len(lengths)-1)] = text
			}
			batch = append(batch, store.NewOp{ID: fmt.Sprintf("h%d", head+len(batch)), UserID: users[author].ID, Op: op})
		}
		if err := s.AppendOps(ctx, docID, int64(head), batch); err != nil {
			b.Fatal(err)
		}
		head += len(batch)
	}
	return lengths
}

// timed runs fn b.N times and reports the 50th and 99th percentile of its
// durations, and first (if not 0), what the first call cost.
func timed(b *testing.B, first time.Duration, fn func()) {
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		fn()
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	pct := func(p float64) float64 {
		return float64(took[min(len(took)-1, int(p*float64(len(took))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	if first > 0 {
		b.ReportMetric(float64(first.Microseconds())/1000, "first-ms")
	}
}
