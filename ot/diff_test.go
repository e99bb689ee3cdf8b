package ot

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDiff(t *testing.T) {
	for _, tc := range []struct{ a, b, want string }{
		{"", "", "[]"},
		{"same", "same", "[4]"},
		{"", "new", `["new"]`},
		{"old", "", "[-3]"},
		{"hello world", "hello there world", `[6,"there ",5]`},
		{"aXb", "aYb", `[1,"Y",-1,1]`},
		{"é", "è", `["è",-1]`},
		{"😀a😀", "😀b😀", `[1,"b",-1,1]`},
		{"aaa", "aa", "[2,-1]"},
		// Lines: shared ones kept, each changed stretch by its ends.
		{"one\ntwo\nthree\nfour\nfive\n", "one\n2\nthree\nfour\nfive!\n", `[4,"2",-3,16,"!",1]`},
		{"a\nb\nc\n", "x\na\nb\nc\ny\n", `["x\n",6,"y\n"]`},
		{"a\nb\nc\nd\n", "a\nc\nb\nd\n", `[2,-2,2,"b\n",2]`},
		{"x\nfoo\n", "xyfoo\n", `[1,"y",-1,4]`},
	} {
		op := Diff(tc.a, tc.b)
		if op.String() != tc.want {
			t.Errorf("Diff(%q, %q) = %s, want %s", tc.a, tc.b, op, tc.want)
		}
		if got, err := Apply(tc.a, op); err != nil || got != tc.b {
			t.Errorf("Apply(%q, Diff) = %q, %v; want %q", tc.a, got, err, tc.b)
		}
	}
}

// TestDiffRandom: Diff(a, b) applied to a gives b, for texts that share
// multi-byte characters at their edges.
func TestDiffRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "é", "è", "😀", "😁", "\n"}
	word := func() string {
		var sb strings.Builder
		for range r.IntN(8) {
			sb.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		return sb.String()
	}
	for range 5000 {
		mid := word()
		a, b := word()+mid+word(), word()+mid+word()
		op := Diff(a, b)
		if got, err := Apply(a, op); err != nil || got != b {
			t.Fatalf("Apply(%q, Diff(…, %q) = %s) = %q, %v", a, b, op, got, err)
		}
	}
}

// TestDiffLines: texts of random lines, near and far apart: Diff is
// right, and keeps the lines the texts share (it inserts no more than b
// has beyond their longest common subsequence of lines).
func TestDiffLines(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	vocab := []string{"alpha\n", "beta\n", "gamma 😀\n", "\n", "déjà vu\n", "x\n", "last"}
	text := func(n int) []string {
		var lines []string
		for range n {
			lines = append(lines, vocab[r.IntN(len(vocab))])
		}
		return lines
	}
	for range 2000 {
		x := text(r.IntN(40))
		y := slices.Clone(x)
		for range r.IntN(6) { // a few line edits
			switch i := r.IntN(len(y) + 1); {
			case i < len(y) && r.IntN(2) == 0:
				y = slices.Delete(y, i, i+1)
			default:
				y = slices.Insert(y, i, vocab[r.IntN(len(vocab))])
			}
		}
		a, b := strings.Join(x, ""), strings.Join(y, "")
		op := Diff(a, b)
		if got, err := Apply(a, op); err != nil || got != b {
			t.Fatalf("Apply(%q, Diff(…, %q) = %s) = %q, %v", a, b, op, got, err)
		}
	}
	// Far apart: the line diff gives up, the replacement is still right.
	var x, y []string
	for i := range 1000 {
		x = append(x, fmt.Sprintf("a%d\n", i))
		y = append(y, fmt.Sprintf("b%d\n", i))
	}
	a, b := strings.Join(x, ""), strings.Join(y, "")
	if got, err := Apply(a, Diff(a, b)); err != nil || got != b {
		t.Fatalf("far apart: %v", err)
	}
	// One changed word in a long text: the op keeps everything else.
	x[500] = "changed\n"
	b = strings.Join(x, "")
	x[500] = "a500\n"
	op := Diff(strings.Join(x, ""), b)
	inserted := 0
	for c := range op.Components() {
		inserted += len(c.Insert)
	}
	if inserted > len("changed") {
		t.Errorf("one changed line: %s inserts %d bytes", op, inserted)
	}
}

func TestComponents(t *testing.T) {
	op := new(Builder).Retain(2).Insert("hé").Delete(3).Retain(1).Op()
	var got []Component
	for c := range op.Components() {
		got = append(got, c)
	}
	want := []Component{{Retain: 2}, {Insert: "hé"}, {Delete: 3}, {Retain: 1}}
	if len(got) != len(want) {
		t.Fatalf("Components = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("component %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// BenchmarkDiff: a 20,000-line text (about 1 MB) against itself with 150
// lines changed, inserted or deleted here and there: near the line diff's
// bound (go test ./ot -run '^$' -bench Diff).
func BenchmarkDiff(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	var x []string
	for i := range 20000 {
		x = append(x, fmt.Sprintf("line %d of the text, with some words in it\n", i))
	}
	y := slices.Clone(x)
	for i := range 150 {
		switch at := r.IntN(len(y)); i % 3 {
		case 0:
			y[at] = "changed\n"
		case 1:
			y = slices.Insert(y, at, "new\n")
		default:
			y = slices.Delete(y, at, at+1)
		}
	}
	a, c := strings.Join(x, ""), strings.Join(y, "")
	b.SetBytes(int64(len(a)))
	for b.Loop() {
		Diff(a, c)
	}
}

// FuzzDiff: for any two valid texts, Diff(a, b) applied to a is b.
func FuzzDiff(f *testing.F) {
	for _, seed := range [][2]string{{"", ""}, {"a\nb\n", "b\na\n"}, {"é😀\n", "😀é"}, {"x\ny\nz", "x\nz\ny\n"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if !utf8.ValidString(a) || !utf8.ValidString(b) {
			return
		}
		op := Diff(a, b)
		if got, err := Apply(a, op); err != nil || got != b {
			t.Fatalf("Apply(%q, Diff(…, %q) = %s) = %q, %v", a, b, op, got, err)
		}
	})
}
