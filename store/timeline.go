package store

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// Timelines are the views of a document's history that people look at: what
// happened when and by whom (Timeline), and who wrote which part of the
// text (Blame). Both are served from summaries the store keeps beside the
// history and fills lazily, so that neither reads the whole history per
// request.
type Timelines interface {
	// Timeline returns the document's version and its history from version
	// 1 to that version summarised in at most buckets (1 or more)
	// contiguous ranges, in order, each of TimelineStep(version, buckets)
	// versions but the last. ErrNotFound if there is no such document,
	// ErrInvalid if buckets < 1.
	Timeline(ctx context.Context, docID string, buckets int) (int64, []Activity, error)
	// Blame returns who wrote each stretch of the document's text at
	// version: consecutive spans that cover it, in code points, with
	// neighbours of one author merged. The text at version 0 is the
	// document's creator's. It starts from the nearest blame checkpoint at
	// or before version (one per snapshot interval, written the first time
	// a blame passes it), so it applies at most a snapshot interval of ops
	// once the checkpoints exist. ErrNotFound if there is no such document
	// or version.
	Blame(ctx context.Context, docID string, version int64) ([]Span, error)
}

// ActivityChunk is the number of versions the stores summarise together:
// a timeline of a long history reads one summary per chunk and author.
const ActivityChunk = 100

// ExactTimeline is the longest history whose timeline has buckets of
// exactly ceil(version/buckets) versions, read from the operations
// themselves; a longer one has buckets of a multiple of ActivityChunk
// versions, read from the chunk summaries, so it may have fewer buckets
// than asked (at least ExactTimeline/ActivityChunk of them).
const ExactTimeline = 10_000

// MaxTimelineBuckets bounds the buckets one timeline may ask for.
const MaxTimelineBuckets = 1000

// TimelineStep returns how many versions each bucket of a timeline of a
// history of head versions covers, for a request of buckets buckets.
func TimelineStep(head int64, buckets int) int64 {
	if head <= 0 || buckets < 1 {
		return 1
	}
	step := (head + int64(buckets) - 1) / int64(buckets)
	if head > ExactTimeline && step%ActivityChunk != 0 {
		step += ActivityChunk - step%ActivityChunk
	}
	return step
}

// Activity is what happened in a range of versions: how many operations,
// when the first and the last were made, and who made them.
type Activity struct {
	From, To   int64
	Start, End time.Time
	Ops        int64
	// Authors are the users who made operations in the range, in the
	// order of their first, with how many each made.
	Authors []AuthorOps
}

// AuthorOps is how many operations a user made in a range of versions.
type AuthorOps struct {
	UserID string
	Ops    int64
}

// ActivityRow is one author's part of one bucket of a timeline, as the
// stores read it (from the chunk summaries or the operations).
type ActivityRow struct {
	Bucket       int64 // the bucket's index: it covers versions Bucket*step+1 ...
	UserID       string
	Ops          int64
	FirstVersion int64
	FirstAt      time.Time
	LastAt       time.Time
}

// BuildTimeline merges rows into the buckets of a timeline of head
// versions with step versions per bucket.
func BuildTimeline(head, step int64, rows []ActivityRow) []Activity {
	if head <= 0 {
		return []Activity{}
	}
	n := (head + step - 1) / step
	out := make([]Activity, n)
	first := make([][]int64, n) // each author's first version, to order them
	for i := range out {
		out[i].From = int64(i)*step + 1
		out[i].To = min(int64(i+1)*step, head)
	}
	for _, r := range rows {
		if r.Bucket < 0 || r.Bucket >= n {
			continue
		}
		a := &out[r.Bucket]
		if a.Ops == 0 || r.FirstAt.Before(a.Start) {
			a.Start = r.FirstAt
		}
		if a.Ops == 0 || r.LastAt.After(a.End) {
			a.End = r.LastAt
		}
		a.Ops += r.Ops
		if i := slices.IndexFunc(a.Authors, func(x AuthorOps) bool { return x.UserID == r.UserID }); i >= 0 {
			a.Authors[i].Ops += r.Ops
			first[r.Bucket][i] = min(first[r.Bucket][i], r.FirstVersion)
			continue
		}
		a.Authors = append(a.Authors, AuthorOps{UserID: r.UserID, Ops: r.Ops})
		first[r.Bucket] = append(first[r.Bucket], r.FirstVersion)
	}
	for b := range out {
		idx := make([]int, len(out[b].Authors))
		for i := range idx {
			idx[i] = i
		}
		slices.SortFunc(idx, func(i, j int) int { return cmp.Compare(first[b][i], first[b][j]) })
		sorted := make([]AuthorOps, len(idx))
		for k, i := range idx {
			sorted[k] = out[b].Authors[i]
		}
		out[b].Authors = sorted
	}
	return out
}
