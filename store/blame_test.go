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
	long := newRope(spans) // one rope for all the ops: blocks split as they grow
	var recs []OpRecord
	checkpoints := map[int64][]Span{}
	for v := int64(1); v <= 6000; v++ {
		user := users[r.IntN(len(users))]
		var b ot.Builder
		var next []string
		// A few edits at random places: delete 0 to 2 (now and then up to
		// 400), insert 0 to 3.
		at := make([]int, 1+r.IntN(3))
		for k := range at {
			at[k] = r.IntN(len(who) + 1)
		}
		slices.Sort(at)
		i := 0
		for _, p := range at {
			if p < i {
				continue
			}
			b.Retain(p - i)
			next = append(next, who[i:p]...)
			i = p
			d := min(r.IntN(3), len(who)-i)
			if r.IntN(500) == 0 {
				d = min(r.IntN(400), len(who)-i) // across spans and blocks
			}
			b.Delete(d)
			i += d
			s := []string{"", "x", "é", "😀y", "abc"}[r.IntN(5)]
			b.Insert(s)
			for range []rune(s) {
				next = append(next, user)
			}
		}
		b.Retain(len(who) - i)
		next = append(next, who[i:]...)
		op := b.Op()
		got, err := ApplyBlame(spans, op, user)
		if err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
		who, spans = next, got
		want := spansOf(who)
		if !slices.Equal(spans, want) {
			t.Fatalf("version %d (%s by %s): %v, want %v", v, op, user, spans, want)
		}
		long.apply(op, user)
		if got := long.spans(); !slices.Equal(got, want) {
			t.Fatalf("the long rope at version %d: %v, want %v", v, got, want)
		}
		recs = append(recs, OpRecord{Version: v, UserID: user, Op: op})
		if v%7 == 0 {
			checkpoints[v] = spans
		}
	}
	t.Logf("%d spans at the end; the long rope has %d blocks", len(spans), len(long.blocks))
	if len(long.blocks) < 8 {
		t.Errorf("the long rope has %d blocks: the test splits too few", len(long.blocks))
	}
	// ReplayBlame keeps one rope over all the ops (blocks split as they
	// grow), with a checkpoint every 7.
	final, due, err := ReplayBlame(replayed, 0, recs, 7)
	if err != nil || !slices.Equal(final, spans) || len(due) != 6000/7 {
		t.Fatalf("ReplayBlame: %v, %d checkpoints, %v", final, len(due), err)
	}
	for _, c := range due {
		if !slices.Equal(c.Spans, checkpoints[c.Version]) {
			t.Fatalf("checkpoint %d = %v, want %v", c.Version, c.Spans, checkpoints[c.Version])
		}
	}
	if final, _, err := ReplayBlame(replayed, 0, recs, 0); err != nil || !slices.Equal(final, spans) {
		t.Fatalf("ReplayBlame without checkpoints: %v", err)
	}
	if back, err := DecodeSpans(EncodeSpans(final)); err != nil || !slices.Equal(back, final) {
		t.Errorf("round trip: %v, %v", back, err)
	}
	if got, err := ApplyBlame(InitialBlame("", "ann"), ot.Insertion(0, 0, "hi"), "bob"); err != nil || !slices.Equal(got, []Span{{2, "bob"}}) {
		t.Errorf("typing into an empty text: %v, %v", got, err)
	}
	if _, err := ApplyBlame(spans, ot.Identity(len(who)+1), "ann"); err == nil {
		t.Error("an op of the wrong length applied")
	}
	if back, err := DecodeSpans(EncodeSpans(nil)); err != nil || len(back) != 0 {
		t.Errorf("round trip of no spans: %v, %v", back, err)
	}
	for _, bad := range []string{"", "{", "[\"a\"]", "[\"a\"]\n1", "[\"a\"]\n0,0", "[\"a\"]\n1,1", "[\"a\"]\n1,0,", "[\"a\"]\nx,0", "[\"a\"]\n1,-1", "{}\n1,0"} {
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
