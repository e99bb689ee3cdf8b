package ot

import (
	"math/rand/v2"
	"strings"
	"testing"
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
