package ot

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"unicode/utf8"
)

// randSpot returns a random one-place edit on a document of docLen code
// points: an insert, a delete, both, or nothing, often at the ends.
func randSpot(r *rand.Rand, docLen int) Op {
	pos := r.IntN(docLen + 1)
	switch r.IntN(6) {
	case 0:
		pos = 0
	case 1:
		pos = docLen
	}
	var b Builder
	b.Retain(pos)
	if r.IntN(3) != 0 {
		b.Insert(randText(r, 3))
	}
	if r.IntN(2) == 0 {
		b.Delete(r.IntN(docLen - pos + 1))
	}
	return b.Retain(docLen - b.op.base).Op()
}

// sequential is TransformOverAll's definition: TransformOver in turn.
func sequential(b Op, history []Op) (Op, error) {
	for _, a := range history {
		var err error
		if b, err = TransformOver(b, a); err != nil {
			return Op{}, err
		}
	}
	return b, nil
}

// randHistory returns n ops in sequence from a document of docLen code
// points: mostly one-place edits, with spread edits among them when mixed.
func randHistory(r *rand.Rand, docLen, n int, mixed bool) []Op {
	h := make([]Op, n)
	for i := range h {
		if mixed && r.IntN(4) == 0 {
			h[i] = randOp(r, docLen)
		} else {
			h[i] = randSpot(r, docLen)
		}
		docLen = h[i].TargetLen()
	}
	return h
}

// TestPropertyTransformOverAll: bringing an op over a history by the fast
// path gives exactly what TransformOver in turn gives, for one-place edits
// (the fast path throughout, or until a's insert lands in b's deletion)
// and for histories mixing in edits at many places (the switch to
// TransformOver mid-way).
func TestPropertyTransformOverAll(t *testing.T) {
	forCases(t, func(t *testing.T, r *rand.Rand) {
		n := utf8.RuneCountInString(randText(r, 20))
		mixed := r.IntN(3) == 0
		b := randSpot(r, n)
		if mixed && r.IntN(2) == 0 {
			b = randOp(r, n)
		}
		h := randHistory(r, n, r.IntN(12), mixed)
		want, err := sequential(b, h)
		if err != nil {
			t.Fatalf("sequential: %v", err)
		}
		got, err := TransformOverAll(b, slices.Values(h))
		if err != nil || !got.Equal(want) {
			t.Errorf("TransformOverAll(%s, %v) = %s, %v; want %s", b, h, got, err, want)
		}
	})
	// A history of the wrong length is refused, on the fast path as on the other.
	for _, b := range []Op{Insertion(1, 0, "x"), new(Builder).Insert("a").Retain(1).Delete(0).Insert("b").Op()} {
		if _, err := TransformOverAll(b, slices.Values([]Op{Insertion(2, 0, "y")})); !errors.Is(err, ErrMismatch) {
			t.Errorf("TransformOverAll(%s) over a mismatched history: %v", b, err)
		}
	}
}

// FuzzTransformOverAll checks the fast path against TransformOver in turn
// on fuzzed documents and one-place edits.
func FuzzTransformOverAll(f *testing.F) {
	f.Add(uint64(1), uint64(2), uint8(5))
	f.Add(uint64(20261201), uint64(7), uint8(30))
	f.Fuzz(func(t *testing.T, s1, s2 uint64, steps uint8) {
		r := rand.New(rand.NewPCG(s1, s2))
		n := utf8.RuneCountInString(randText(r, 16))
		b := randSpot(r, n)
		h := randHistory(r, n, int(steps%40), s1%5 == 0)
		want, err := sequential(b, h)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := TransformOverAll(b, slices.Values(h)); err != nil || !got.Equal(want) {
			t.Fatalf("TransformOverAll(%s, %v) = %s, %v; want %s", b, h, got, err, want)
		}
	})
}
