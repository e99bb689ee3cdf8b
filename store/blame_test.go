package store

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"tandem/ot"
)

// TestApplyBlame checks ApplyBlame and ReplayBlame against a blame kept one
// code point at a time, over random ops with several edits each (inserts,
// deletes and replacements anywhere, by four authors).
func TestApplyBlame(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	users := []string{"ann", "bob", "cat", "dan"}
	who := []string{"ann", "ann", "ann"} // the author of each code point
	spans := InitialBlame("abc", "ann")
	replayed := slices.Clone(spans)
	var recs []OpRecord
	for v := int64(1); v <= 3000; v++ {
		user := users[r.IntN(len(users))]
		var b ot.Builder
		var next []string
		for i := 0; i < len(who); {
			switch k := r.IntN(10); {
			case k < 6:
				n := 1 + r.IntN(min(20, len(who)-i))
				b.Retain(n)
				next = append(next, who[i:i+n]...)
				i += n
			case k < 8:
				n := 1 + r.IntN(min(5, len(who)-i))
				b.Delete(n)
				i += n
			default:
				s := []string{"x", "é", "😀y"}[r.IntN(3)]
				b.Insert(s)
				for range []rune(s) {
					next = append(next, user)
				}
			}
		}
		if r.IntN(3) == 0 {
			b.Insert("end")
			next = append(next, user, user, user)
		}
		op := b.Op()
		got, err := ApplyBlame(spans, op, user)
		if err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
		who, spans = next, got
		if want := spansOf(who); !slices.Equal(spans, want) {
			t.Fatalf("version %d (%s by %s): %v, want %v", v, op, user, spans, want)
		}
		recs = append(recs, OpRecord{Version: v, UserID: user, Op: op})
	}
	final, due, err := ReplayBlame(replayed, 0, recs, 500)
	if err != nil || !slices.Equal(final, spans) || len(due) != 6 || due[0].Version != 500 {
		t.Fatalf("ReplayBlame: %v, %d checkpoints, %v", final, len(due), err)
	}
	if back, err := DecodeSpans(EncodeSpans(final)); err != nil || !slices.Equal(back, final) {
		t.Errorf("round trip: %v, %v", back, err)
	}
	if _, err := ApplyBlame(spans, ot.Identity(len(who)+1), "ann"); err == nil {
		t.Error("an op of the wrong length applied")
	}
	for _, bad := range []string{"", "{", `{"authors":["a"],"spans":[1]}`, `{"authors":["a"],"spans":[0,0]}`, `{"authors":["a"],"spans":[1,1]}`} {
		if _, err := DecodeSpans(bad); err == nil {
			t.Errorf("DecodeSpans(%q) passed", bad)
		}
	}
}

func spansOf(who []string) []Span {
	out := []Span{}
	for _, u := range who {
		if n := len(out); n > 0 && out[n-1].UserID == u {
			out[n-1].Length++
		} else {
			out = append(out, Span{Length: 1, UserID: u})
		}
	}
	return out
}

func ExampleApplyBlame() {
	spans := InitialBlame("hello world", "ann")
	op := new(ot.Builder).Retain(6).Delete(5).Insert("there").Op()
	spans, _ = ApplyBlame(spans, op, "bob")
	fmt.Println(spans)
	// Output: [{6 ann} {5 bob}]
}
