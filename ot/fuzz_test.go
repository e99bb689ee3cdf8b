package ot

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

// FuzzUnmarshal feeds arbitrary bytes to the wire-form parser. Whatever it
// accepts must be valid JSON, normalised, and survive a round trip; whatever it
// refuses must be refused with ErrMalformed.
func FuzzUnmarshal(f *testing.F) {
	for _, seed := range []string{
		`[]`, `[3,"hi",-2,5]`, `["\ud83d\ude00"]`, `["\ud800"]`, `[1.0]`, `[0]`, `[""]`,
		`[[1]]`, `[-1,"x",1,1]`, "[\"\xff\"]", `["a\u2028"]`, `[1073741824]`, ` [ 1 ] `,
		`["a\u0000"]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		op, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) error does not wrap ErrMalformed: %v", data, err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("Parse accepted invalid JSON %q", data)
		}
		wire := op.AppendJSON(nil)
		if !json.Valid(wire) {
			t.Fatalf("AppendJSON produced invalid JSON %q", wire)
		}
		back, err := Parse(wire)
		if err != nil || !back.Equal(op) {
			t.Fatalf("round trip of %q: %s, %v", data, back, err)
		}
		// encoding/json must read the same components (it agrees on
		// everything we accept, as we refuse lone surrogates).
		var generic []any
		if err := json.Unmarshal(wire, &generic); err != nil || len(generic) != len(op.comps) {
			t.Fatalf("encoding/json reads %q as %v, %v", wire, generic, err)
		}
		checkNormal(t, op)
		if err := CheckOp(op); err != nil {
			t.Fatalf("Parse accepted %q, which CheckOp refuses: %v", data, err)
		}
	})
}

// FuzzApply applies fuzzed ops to fuzzed documents: Apply never panics, fails
// only with ErrMismatch, produces TargetLen code points of valid text, and
// Invert undoes it.
func FuzzApply(f *testing.F) {
	f.Add("hello", []byte(`[5," world"]`))
	f.Add("😀é", []byte(`[1,-1]`))
	f.Add("", []byte(`["x"]`))
	f.Add("abc", []byte(`["x",-3]`))
	f.Fuzz(func(t *testing.T, doc string, opJSON []byte) {
		if !utf8.ValidString(doc) {
			return
		}
		op, err := Parse(opJSON)
		if err != nil {
			return
		}
		out, err := Apply(doc, op)
		if err != nil {
			if !errors.Is(err, ErrMismatch) || op.BaseLen() == utf8.RuneCountInString(doc) {
				t.Fatalf("Apply(%q, %s): %v", doc, op, err)
			}
			return
		}
		if utf8.RuneCountInString(out) != op.TargetLen() || !utf8.ValidString(out) {
			t.Fatalf("Apply(%q, %s) = %q: wrong length or invalid text", doc, op, out)
		}
		inv, err := Invert(op, doc)
		if err != nil {
			t.Fatalf("Invert(%s, %q): %v", op, doc, err)
		}
		if back, err := Apply(out, inv); err != nil || back != doc {
			t.Fatalf("undo of %s on %q gave %q, %v", op, doc, back, err)
		}
	})
}

// FuzzTransform drives the random op generator from fuzzed seeds, so the
// fuzzer explores the convergence property beyond the fixed property tests.
func FuzzTransform(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Fuzz(func(t *testing.T, s1, s2 uint64) {
		r := rand.New(rand.NewPCG(s1, s2))
		doc := randText(r, 40)
		n := utf8.RuneCountInString(doc)
		a, b := randOp(r, n), randOp(r, n)
		ap, bp, err := Transform(a, b)
		if err != nil {
			t.Fatal(err)
		}
		checkNormal(t, ap)
		checkNormal(t, bp)
		if l, r := mustApply(t, mustApply(t, doc, a), bp), mustApply(t, mustApply(t, doc, b), ap); l != r {
			t.Fatalf("doc %q a %s b %s diverge: %q vs %q", doc, a, b, l, r)
		}
	})
}

// checkNormal fails unless op is in normal form with consistent lengths.
func checkNormal(t *testing.T, op Op) {
	t.Helper()
	base, target := 0, 0
	for i, c := range op.comps {
		if c.n == 0 || (c.isInsert() && c.n != utf8.RuneCountInString(c.s)) {
			t.Fatalf("%s: bad component %d", op, i)
		}
		if i > 0 {
			prev := op.comps[i-1]
			if prev.isInsert() == c.isInsert() && prev.isRetain() == c.isRetain() {
				t.Fatalf("%s: components %d and %d are of one kind", op, i-1, i)
			}
			if prev.isDelete() && c.isInsert() {
				t.Fatalf("%s: delete before insert at %d", op, i)
			}
		}
		switch {
		case c.isInsert():
			target += c.n
		case c.n > 0:
			base += c.n
			target += c.n
		default:
			base -= c.n
		}
	}
	if base != op.BaseLen() || target != op.TargetLen() {
		t.Fatalf("%s: lengths %d→%d, recorded %d→%d", op, base, target, op.BaseLen(), op.TargetLen())
	}
}
