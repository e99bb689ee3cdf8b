package ot

import (
	"errors"
	"flag"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// Property tests run on random documents and ops from a fixed seed, so a
// failure names its case and replays exactly: go test -run TestProperty
// -ot.seed=N. Each property checks propertyCases cases per run.
var seedFlag = flag.Uint64("ot.seed", 20261125, "seed for the ot property tests")

const propertyCases = 10_000

// alphabet mixes one-byte, two-, three- and four-byte characters, a combining
// mark (e + U+0301 is two code points) and newlines.
var alphabet = []string{"a", "b", "c", " ", "\n", "é", "ß", "中", "語", "😀", "🎉", "𝄞", "\u0301", "\u200d", "\t"}

func randText(r *rand.Rand, maxLen int) string {
	n := r.IntN(maxLen + 1)
	var sb strings.Builder
	for range n {
		sb.WriteString(alphabet[r.IntN(len(alphabet))])
	}
	return sb.String()
}

// randOp returns a random op on a document of docLen code points, shaped like
// real edits: mostly short retains, inserts and deletes, sometimes long ones.
func randOp(r *rand.Rand, docLen int) Op {
	var b Builder
	left := docLen
	for left > 0 {
		n := 1 + r.IntN(min(left, 1+r.IntN(8)))
		switch r.IntN(5) {
		case 0, 1:
			b.Retain(n)
			left -= n
		case 2:
			b.Delete(n)
			left -= n
		case 3:
			b.Insert(randText(r, 4))
		default:
			b.Insert(randText(r, 2))
			b.Retain(n)
			left -= n
		}
	}
	if r.IntN(3) == 0 {
		b.Insert(randText(r, 5))
	}
	return b.Op()
}

// forCases runs check on propertyCases random cases, each with its own
// reproducible generator.
func forCases(t *testing.T, check func(t *testing.T, r *rand.Rand)) {
	t.Helper()
	for i := range propertyCases {
		r := rand.New(rand.NewPCG(*seedFlag, uint64(i)))
		check(t, r)
		if t.Failed() {
			t.Fatalf("failed at case %d (seed %d)", i, *seedFlag)
		}
	}
}

func TestPropertyApplyLengths(t *testing.T) {
	forCases(t, func(t *testing.T, r *rand.Rand) {
		doc := randText(r, 30)
		op := randOp(r, utf8.RuneCountInString(doc))
		got := mustApply(t, doc, op)
		if n := utf8.RuneCountInString(got); n != op.TargetLen() {
			t.Errorf("Apply(%q, %s) has %d code points, TargetLen says %d", doc, op, n, op.TargetLen())
		}
		if !utf8.ValidString(got) {
			t.Errorf("Apply(%q, %s) produced invalid UTF-8", doc, op)
		}
	})
}

func TestPropertyTP1(t *testing.T) {
	forCases(t, func(t *testing.T, r *rand.Rand) {
		doc := randText(r, 30)
		n := utf8.RuneCountInString(doc)
		a, b := randOp(r, n), randOp(r, n)
		ap, bp, err := Transform(a, b)
		if err != nil {
			t.Fatalf("Transform(%s, %s): %v", a, b, err)
		}
		left := mustApply(t, mustApply(t, doc, a), bp)
		right := mustApply(t, mustApply(t, doc, b), ap)
		if left != right {
			t.Errorf("doc %q, a %s, b %s: a then b' = %q, b then a' = %q", doc, a, b, left, right)
		}
	})
}

// TestPropertyTransformOver: TransformOver is Transform's second result.
func TestPropertyTransformOver(t *testing.T) {
	forCases(t, func(t *testing.T, r *rand.Rand) {
		n := utf8.RuneCountInString(randText(r, 30))
		a, b := randOp(r, n), randOp(r, n)
		_, want, err := Transform(a, b)
		if err != nil {
			t.Fatalf("Transform(%s, %s): %v", a, b, err)
		}
		got, err := TransformOver(b, a)
		if err != nil || !got.Equal(want) {
			t.Errorf("TransformOver(%s, %s) = %s, %v; want %s", b, a, got, err, want)
		}
	})
	if _, err := TransformOver(Insertion(1, 0, "x"), Insertion(2, 0, "y")); !errors.Is(err, ErrMismatch) {
		t.Errorf("mismatched lengths: %v", err)
	}
}

func TestPropertyTransformKeepsInsertOrder(t *testing.T) {
	// When both insert at one position, the op sequenced first comes first.
	forCases(t, func(t *testing.T, r *rand.Rand) {
		doc := randText(r, 20)
		n := utf8.RuneCountInString(doc)
		pos := r.IntN(n + 1)
		x, y := "X"+randText(r, 3), "Y"+randText(r, 3)
		a, b := Insertion(n, pos, x), Insertion(n, pos, y)
		_, bp, err := Transform(a, b)
		if err != nil {
			t.Fatal(err)
		}
		got := mustApply(t, mustApply(t, doc, a), bp)
		runes := []rune(doc)
		want := string(runes[:pos]) + x + y + string(runes[pos:])
		if got != want {
			t.Errorf("inserts %q then %q at %d in %q: got %q, want %q", x, y, pos, doc, got, want)
		}
	})
}

func TestPropertyCompose(t *testing.T) {
	forCases(t, func(t *testing.T, r *rand.Rand) {
		doc := randText(r, 30)
		a := randOp(r, utf8.RuneCountInString(doc))
		mid := mustApply(t, doc, a)
		b := randOp(r, utf8.RuneCountInString(mid))
		ab, err := Compose(a, b)
		if err != nil {
			t.Fatalf("Compose(%s, %s): %v", a, b, err)
		}
		if got, want := mustApply(t, doc, ab), mustApply(t, mid, b); got != want {
			t.Errorf("doc %q, a %s, b %s: composed %s gives %q, one by one %q", doc, a, b, ab, got, want)
		}
	})
}

func TestPropertyInvert(t *testing.T) {
	forCases(t, func(t *testing.T, r *rand.Rand) {
		doc := randText(r, 30)
		op := randOp(r, utf8.RuneCountInString(doc))
		inv, err := Invert(op, doc)
		if err != nil {
			t.Fatalf("Invert(%s, %q): %v", op, doc, err)
		}
		if back := mustApply(t, mustApply(t, doc, op), inv); back != doc {
			t.Errorf("Invert(%s, %q) = %s gives %q", op, doc, inv, back)
		}
	})
}

func TestPropertyWireRoundTrip(t *testing.T) {
	forCases(t, func(t *testing.T, r *rand.Rand) {
		op := randOp(r, r.IntN(40))
		wire, err := op.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(wire)
		if err != nil {
			t.Fatalf("Parse(%s): %v", wire, err)
		}
		if !back.Equal(op) {
			t.Errorf("round trip of %s gave %s", op, back)
		}
	})
}

func TestPropertyTransformIndex(t *testing.T) {
	forCases(t, func(t *testing.T, r *rand.Rand) {
		doc := randText(r, 30)
		n := utf8.RuneCountInString(doc)
		op := randOp(r, n)
		own := r.IntN(2) == 0
		p1, p2 := r.IntN(n+1), r.IntN(n+1)
		if p1 > p2 {
			p1, p2 = p2, p1
		}
		t1, t2 := TransformIndex(p1, op, own), TransformIndex(p2, op, own)
		if t1 < 0 || t2 > op.TargetLen() {
			t.Errorf("TransformIndex out of [0, %d]: %d, %d (op %s)", op.TargetLen(), t1, t2, op)
		}
		if t1 > t2 {
			t.Errorf("TransformIndex reordered carets: %d→%d and %d→%d (op %s)", p1, t1, p2, t2, op)
		}
		// A caret sticks to the text around it, as in an editor. Before a
		// character that op keeps, with own set, it stays right before that
		// character; without, it stays right after the kept character before
		// it, so someone else's insert at the caret lands after the caret.
		runes := []rune(doc)
		after := []rune(mustApply(t, doc, op))
		if p1 < n && retains(op, p1) {
			if at := TransformIndex(p1, op, true); at >= len(after) || after[at] != runes[p1] {
				t.Errorf("own caret before %q at %d in %q moved to %d in %q (op %s)", runes[p1], p1, doc, at, string(after), op)
			}
		}
		if p1 > 0 && retains(op, p1-1) {
			prev := TransformIndex(p1-1, op, true)
			if at := TransformIndex(p1, op, false); at != prev+1 {
				t.Errorf("caret after %q at %d in %q moved to %d in %q, want %d (op %s)", runes[p1-1], p1, doc, at, string(after), prev+1, op)
			}
		}
	})
}

// retains reports whether op keeps the code point at pos.
func retains(op Op, pos int) bool {
	at := 0
	for _, c := range op.comps {
		switch {
		case c.isInsert():
		case c.n > 0:
			if pos < at+c.n {
				return true
			}
			at += c.n
		default:
			if pos < at-c.n {
				return false
			}
			at -= c.n
		}
	}
	return false
}

// TestPropertyComposeAll: ComposeAll of a chain of ops gives what applying
// them one by one gives, for every length of chain up to 40.
func TestPropertyComposeAll(t *testing.T) {
	forCases(t, func(t *testing.T, r *rand.Rand) {
		doc := randText(r, 30)
		ops := make([]Op, 1+r.IntN(40))
		text := doc
		for i := range ops {
			ops[i] = randOp(r, utf8.RuneCountInString(text))
			next := mustApply(t, text, ops[i])
			if len(next) > len(text)+ops[i].InsertedBytes() {
				t.Fatalf("%s makes %q of %q: more than its %d inserted bytes longer", ops[i], next, text, ops[i].InsertedBytes())
			}
			text = next
		}
		all, err := ComposeAll(ops)
		if err != nil {
			t.Fatalf("ComposeAll of %d ops: %v", len(ops), err)
		}
		if got := mustApply(t, doc, all); got != text {
			t.Errorf("doc %q, %d ops: composed gives %q, one by one %q", doc, len(ops), got, text)
		}
		if all.BaseLen() != ops[0].BaseLen() || all.TargetLen() != ops[len(ops)-1].TargetLen() {
			t.Errorf("composed lengths %d → %d", all.BaseLen(), all.TargetLen())
		}
	})
	if _, err := ComposeAll(nil); !errors.Is(err, ErrMismatch) {
		t.Errorf("ComposeAll(nil): %v", err)
	}
	a, b := Insertion(0, 0, "ab"), Insertion(3, 0, "x") // b expects 3 code points, a makes 2
	if _, err := ComposeAll([]Op{a, b}); !errors.Is(err, ErrMismatch) {
		t.Errorf("ComposeAll of ops that do not chain: %v", err)
	}
}
