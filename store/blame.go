package store

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"tandem/ot"
)

// Span is a stretch of a document's text, Length code points long, that
// the user UserID wrote.
type Span struct {
	Length int    `json:"length"`
	UserID string `json:"user"`
}

// InitialBlame is the blame of a document's text at version 0: all of it
// is its creator's.
func InitialBlame(text, creator string) []Span {
	if n := utf8.RuneCountInString(text); n > 0 {
		return []Span{{Length: n, UserID: creator}}
	}
	return []Span{}
}

// ApplyBlame returns the blame of the text after op, which user made, given
// spans, the blame of the text op applies to: what op keeps keeps its
// author, what it inserts is user's. Neighbours of one author are merged.
// spans is not changed. An op whose base length is not the spans' total is
// an error wrapping ErrInvalid.
func ApplyBlame(spans []Span, op ot.Op, user string) ([]Span, error) {
	total := 0
	for _, s := range spans {
		total += s.Length
	}
	if total != op.BaseLen() {
		return nil, fmt.Errorf("%w: an op on %d code points does not apply to a blame of %d", ErrInvalid, op.BaseLen(), total)
	}
	out := make([]Span, 0, len(spans)+2)
	add := func(n int, u string) {
		if n == 0 {
			return
		}
		if last := len(out) - 1; last >= 0 && out[last].UserID == u {
			out[last].Length += n
			return
		}
		out = append(out, Span{Length: n, UserID: u})
	}
	i, off := 0, 0 // the current span and the code points of it consumed
	take := func(n int, keep bool) {
		for n > 0 {
			k := min(n, spans[i].Length-off)
			if keep {
				add(k, spans[i].UserID)
			}
			n -= k
			off += k
			if off == spans[i].Length {
				i, off = i+1, 0
			}
		}
	}
	for c := range op.Components() {
		switch {
		case c.Insert != "":
			add(utf8.RuneCountInString(c.Insert), user)
		case c.Retain > 0:
			take(c.Retain, true)
		default:
			take(c.Delete, false)
		}
	}
	return out, nil
}

// blameForm is how a blame is stored: each author once, and the spans as
// pairs of length and index into authors.
type blameForm struct {
	Authors []string `json:"authors"`
	Spans   []int    `json:"spans"`
}

// EncodeSpans returns the stored form of a blame.
func EncodeSpans(spans []Span) string {
	f := blameForm{Authors: []string{}, Spans: make([]int, 0, 2*len(spans))}
	index := map[string]int{}
	for _, s := range spans {
		i, ok := index[s.UserID]
		if !ok {
			i = len(f.Authors)
			index[s.UserID] = i
			f.Authors = append(f.Authors, s.UserID)
		}
		f.Spans = append(f.Spans, s.Length, i)
	}
	data, _ := json.Marshal(f) // strings and ints: cannot fail
	return string(data)
}

// DecodeSpans reads the stored form of a blame.
func DecodeSpans(stored string) ([]Span, error) {
	var f blameForm
	if err := json.Unmarshal([]byte(stored), &f); err != nil {
		return nil, fmt.Errorf("stored blame: %w", err)
	}
	if len(f.Spans)%2 != 0 {
		return nil, fmt.Errorf("stored blame: %d numbers in spans", len(f.Spans))
	}
	spans := make([]Span, 0, len(f.Spans)/2)
	for k := 0; k < len(f.Spans); k += 2 {
		n, i := f.Spans[k], f.Spans[k+1]
		if n <= 0 || i < 0 || i >= len(f.Authors) {
			return nil, fmt.Errorf("stored blame: bad span %d", k/2)
		}
		spans = append(spans, Span{Length: n, UserID: f.Authors[i]})
	}
	return spans, nil
}

// BlameCheckpoint is the blame at a version, to be stored.
type BlameCheckpoint struct {
	Version int64
	Spans   []Span
}

// ReplayBlame applies ops, which must follow version `from` without a gap,
// to spans (the blame at from), and returns the blame after the last, with
// the blames at the versions past from that are multiples of every, which
// the store keeps as checkpoints.
func ReplayBlame(spans []Span, from int64, ops []OpRecord, every int64) ([]Span, []BlameCheckpoint, error) {
	var due []BlameCheckpoint
	v := from
	for _, rec := range ops {
		if rec.Version != v+1 {
			return nil, nil, fmt.Errorf("%w: history has a gap: version %d follows %d", ErrInvalid, rec.Version, v)
		}
		next, err := ApplyBlame(spans, rec.Op, rec.UserID)
		if err != nil {
			return nil, nil, fmt.Errorf("blame at version %d: %w", rec.Version, err)
		}
		spans, v = next, rec.Version
		if every > 0 && v%every == 0 {
			due = append(due, BlameCheckpoint{Version: v, Spans: spans})
		}
	}
	return spans, due, nil
}
