package store

import (
	"encoding/json"
	"fmt"
	"slices"
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
	if total := blameLen(spans); total != op.BaseLen() {
		return nil, fmt.Errorf("%w: an op on %d code points does not apply to a blame of %d", ErrInvalid, op.BaseLen(), total)
	}
	return applyBlame(slices.Clone(spans), op, user), nil
}

func blameLen(spans []Span) int {
	total := 0
	for _, s := range spans {
		total += s.Length
	}
	return total
}

// applyBlame is ApplyBlame in place, for an op whose base length is the
// spans' total: it edits spans where op changes the text, and only there
// (a keystroke in a long text costs a walk over the spans before it and a
// move of those after, never a copy of all of them).
func applyBlame(spans []Span, op ot.Op, user string) []Span {
	i, off := 0, 0 // the current span, and how much of it is behind us
	deleted := false
	for c := range op.Components() {
		switch {
		case c.Retain > 0:
			for n := c.Retain; n > 0; {
				k := min(n, spans[i].Length-off)
				n, off = n-k, off+k
				if off == spans[i].Length {
					i, off = i+1, 0
				}
			}
		case c.Insert != "":
			n := utf8.RuneCountInString(c.Insert)
			switch {
			case i < len(spans) && spans[i].UserID == user:
				// Into the user's own span: it grows, and the inserted
				// part is behind us.
				spans[i].Length += n
				off += n
			case off == 0 && i > 0 && spans[i-1].UserID == user:
				spans[i-1].Length += n
			case off == 0:
				spans = slices.Insert(spans, i, Span{Length: n, UserID: user})
				i++
			default:
				// In someone else's span: split it around the insert.
				rest := Span{Length: spans[i].Length - off, UserID: spans[i].UserID}
				spans[i].Length = off
				spans = slices.Insert(spans, i+1, Span{Length: n, UserID: user}, rest)
				i, off = i+2, 0
			}
		default:
			deleted = true
			n := c.Delete
			if off > 0 {
				// Within one span, or from its middle on.
				k := min(n, spans[i].Length-off)
				spans[i].Length -= k
				n -= k
				if off == spans[i].Length {
					i, off = i+1, 0
				}
			}
			j := i // spans[i:j] go whole
			for n > 0 && n >= spans[j].Length {
				n -= spans[j].Length
				j++
			}
			if n > 0 {
				spans[j].Length -= n
			}
			spans = slices.Delete(spans, i, j)
		}
	}
	if deleted {
		// A deletion may leave two spans of one author side by side.
		out := spans[:0]
		for _, s := range spans {
			if k := len(out) - 1; k >= 0 && out[k].UserID == s.UserID {
				out[k].Length += s.Length
				continue
			}
			out = append(out, s)
		}
		spans = out
	}
	return spans
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
// to spans (the blame at from, which it may change), and returns the blame
// after the last, with the blames at the versions past from that are
// multiples of every, which the store keeps as checkpoints.
func ReplayBlame(spans []Span, from int64, ops []OpRecord, every int64) ([]Span, []BlameCheckpoint, error) {
	var due []BlameCheckpoint
	v, total := from, blameLen(spans)
	for _, rec := range ops {
		if rec.Version != v+1 {
			return nil, nil, fmt.Errorf("%w: history has a gap: version %d follows %d", ErrInvalid, rec.Version, v)
		}
		if rec.Op.BaseLen() != total {
			return nil, nil, fmt.Errorf("%w: version %d: an op on %d code points does not apply to a blame of %d", ErrInvalid, rec.Version, rec.Op.BaseLen(), total)
		}
		spans, v, total = applyBlame(spans, rec.Op, rec.UserID), rec.Version, rec.Op.TargetLen()
		if every > 0 && v%every == 0 {
			due = append(due, BlameCheckpoint{Version: v, Spans: slices.Clone(spans)})
		}
	}
	return spans, due, nil
}
