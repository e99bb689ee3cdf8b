package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
	r := newRope(spans)
	r.apply(op, user)
	return r.spans(), nil
}

func blameLen(spans []Span) int {
	total := 0
	for _, s := range spans {
		total += s.Length
	}
	return total
}

// ropeBlock is how many spans a rope's block holds when it is built; a
// block that grows to twice that is split.
const ropeBlock = 128

// rope is a blame being edited: its spans in blocks, with each block's
// length, so that an op walks the blocks' lengths and then one block's
// spans, and an insert or a delete moves the spans of one block only. A
// text with 30,000 spans costs a keystroke about 400 steps, not 30,000.
// Neighbours of one author may lie unmerged; spans merges them.
type rope struct {
	blocks [][]Span
	lens   []int // code points in each block
}

func newRope(spans []Span) *rope {
	r := &rope{}
	for i := 0; i < len(spans); i += ropeBlock {
		b := slices.Clone(spans[i:min(i+ropeBlock, len(spans))])
		r.blocks = append(r.blocks, b)
		r.lens = append(r.lens, blameLen(b))
	}
	return r
}

// spans returns the blame as one slice, neighbours of one author merged.
func (r *rope) spans() []Span {
	n := 0
	for _, b := range r.blocks {
		n += len(b)
	}
	out := make([]Span, 0, n)
	for _, b := range r.blocks {
		for _, s := range b {
			if k := len(out) - 1; k >= 0 && out[k].UserID == s.UserID {
				out[k].Length += s.Length
			} else if s.Length > 0 {
				out = append(out, s)
			}
		}
	}
	return out
}

// apply edits the rope by op, made by user; op's base length must be the
// rope's length.
func (r *rope) apply(op ot.Op, user string) {
	// The position: block b, span i of it, off code points into that span;
	// in is how many code points of block b lie before it.
	b, i, off, in := 0, 0, 0, 0
	norm := func() {
		for b < len(r.blocks) && i >= len(r.blocks[b]) {
			b, i, off, in = b+1, 0, 0, 0
		}
	}
	for c := range op.Components() {
		switch {
		case c.Retain > 0:
			for n := c.Retain; n > 0; {
				if rest := r.lens[b] - in; n >= rest {
					n -= rest
					b, i, off, in = b+1, 0, 0, 0
					continue
				}
				sp := r.blocks[b]
				k := min(n, sp[i].Length-off)
				n, off, in = n-k, off+k, in+k
				if off == sp[i].Length {
					i, off = i+1, 0
				}
			}
		case c.Insert != "":
			n := utf8.RuneCountInString(c.Insert)
			if b == len(r.blocks) {
				if b == 0 {
					r.blocks, r.lens = append(r.blocks, nil), append(r.lens, 0)
				} else {
					b--
					i, off, in = len(r.blocks[b]), 0, r.lens[b]
				}
			}
			sp := r.blocks[b]
			switch {
			case i < len(sp) && sp[i].UserID == user:
				// Into the user's own span: it grows, and the inserted
				// part is behind us.
				sp[i].Length += n
				off += n
			case off == 0 && i > 0 && sp[i-1].UserID == user:
				sp[i-1].Length += n
			case off == 0:
				sp = slices.Insert(sp, i, Span{Length: n, UserID: user})
				i++
			default:
				// In someone else's span: split it around the insert.
				rest := Span{Length: sp[i].Length - off, UserID: sp[i].UserID}
				sp[i].Length = off
				sp = slices.Insert(sp, i+1, Span{Length: n, UserID: user}, rest)
				i, off = i+2, 0
			}
			r.blocks[b], r.lens[b], in = sp, r.lens[b]+n, in+n
			if len(sp) >= 2*ropeBlock {
				r.split(b)
				if h := len(r.blocks[b]); i >= h {
					b, i, in = b+1, i-h, in-r.lens[b]
				}
			}
		default:
			for n := c.Delete; n > 0; {
				norm()
				sp := r.blocks[b]
				switch {
				case off > 0:
					// From the middle of a span: to its end at most.
					k := min(n, sp[i].Length-off)
					sp[i].Length -= k
					n, r.lens[b] = n-k, r.lens[b]-k
					if off == sp[i].Length {
						i, off = i+1, 0
					}
				case i == 0 && n >= r.lens[b]:
					// The whole block.
					n -= r.lens[b]
					r.blocks, r.lens = slices.Delete(r.blocks, b, b+1), slices.Delete(r.lens, b, b+1)
				default:
					// Whole spans, then part of one.
					j := i
					for j < len(sp) && n >= sp[j].Length {
						n, r.lens[b] = n-sp[j].Length, r.lens[b]-sp[j].Length
						j++
					}
					if j < len(sp) && n > 0 {
						sp[j].Length -= n
						r.lens[b] -= n
						n = 0
					}
					r.blocks[b] = slices.Delete(sp, i, j)
				}
			}
		}
	}
}

// split cuts block b in two halves.
func (r *rope) split(b int) {
	sp := r.blocks[b]
	h := len(sp) / 2
	left, right := slices.Clip(sp[:h]), slices.Clone(sp[h:])
	r.blocks = slices.Insert(r.blocks, b+1, right)
	r.blocks[b] = left
	r.lens = slices.Insert(r.lens, b+1, blameLen(right))
	r.lens[b] -= r.lens[b+1]
}

// EncodeSpans returns the stored form of a blame: each author once, as a
// JSON array, then a newline, then each span as its length and its
// author's index, all comma-separated. (JSON for the numbers too would
// cost a 100,000-op history's first blame a third of its time.)
func EncodeSpans(spans []Span) string {
	var authors []string
	index := map[string]int{}
	nums := make([]byte, 0, 8*len(spans))
	for k, s := range spans {
		i, ok := index[s.UserID]
		if !ok {
			i = len(authors)
			index[s.UserID] = i
			authors = append(authors, s.UserID)
		}
		if k > 0 {
			nums = append(nums, ',')
		}
		nums = strconv.AppendInt(nums, int64(s.Length), 10)
		nums = strconv.AppendInt(append(nums, ','), int64(i), 10)
	}
	head, _ := json.Marshal(append([]string{}, authors...)) // strings: cannot fail
	return string(head) + "\n" + string(nums)
}

// DecodeSpans reads the stored form of a blame.
func DecodeSpans(stored string) ([]Span, error) {
	head, nums, ok := strings.Cut(stored, "\n")
	if !ok {
		return nil, errors.New("stored blame: no newline")
	}
	var authors []string
	if err := json.Unmarshal([]byte(head), &authors); err != nil {
		return nil, fmt.Errorf("stored blame: %w", err)
	}
	spans := make([]Span, 0, strings.Count(nums, ",")/2+1)
	for nums != "" {
		var n, i string
		n, nums, _ = strings.Cut(nums, ",")
		i, nums, ok = strings.Cut(nums, ",")
		length, err1 := strconv.Atoi(n)
		who, err2 := strconv.Atoi(i)
		if err1 != nil || err2 != nil || length <= 0 || who < 0 || who >= len(authors) || (ok && nums == "") {
			return nil, fmt.Errorf("stored blame: bad span %d", len(spans))
		}
		spans = append(spans, Span{Length: length, UserID: authors[who]})
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
// the store keeps as checkpoints. spans is not changed.
func ReplayBlame(spans []Span, from int64, ops []OpRecord, every int64) ([]Span, []BlameCheckpoint, error) {
	var due []BlameCheckpoint
	v, total := from, blameLen(spans)
	r := newRope(spans)
	for _, rec := range ops {
		if rec.Version != v+1 {
			return nil, nil, fmt.Errorf("%w: history has a gap: version %d follows %d", ErrInvalid, rec.Version, v)
		}
		if rec.Op.BaseLen() != total {
			return nil, nil, fmt.Errorf("%w: version %d: an op on %d code points does not apply to a blame of %d", ErrInvalid, rec.Version, rec.Op.BaseLen(), total)
		}
		r.apply(rec.Op, rec.UserID)
		v, total = rec.Version, rec.Op.TargetLen()
		if every > 0 && v%every == 0 {
			// Built anew from the merged spans: the blocks stay full and
			// unfragmented however long the replay.
			cp := r.spans()
			due = append(due, BlameCheckpoint{Version: v, Spans: cp})
			r = newRope(cp)
		}
	}
	return r.spans(), due, nil
}
