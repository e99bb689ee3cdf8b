package collab

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"tandem/ot"
	"tandem/store"
)

// The sequencer's tests need no socket, store or goroutine: it is a value.

var testLimits = seqLimits{MaxDocBytes: 1 << 20, WindowOps: 4, WindowBytes: 1 << 20, MaxBehind: 100}

// mustPlace admits and places an op that must land, and returns its version.
func mustPlace(t *testing.T, s *sequencer, user, id string, base int64, op ot.Op) int64 {
	t.Helper()
	if dup, err := s.admit(user, id, base); err != nil || dup != 0 {
		t.Fatalf("admit %s/%s at %d = %d, %v", user, id, base, dup, err)
	}
	since, start := s.recent(base, s.version)
	if base+1 < start {
		t.Fatalf("test needs history before the window (%d < %d)", base+1, start)
	}
	rec, dup, err := s.place(user, id, base, op, since)
	if err != nil || dup != 0 {
		t.Fatalf("place %s/%s at %d = %+v, %d, %v", user, id, base, rec, dup, err)
	}
	return rec.Version
}

// commitAll commits every placed op.
func commitAll(t *testing.T, s *sequencer) {
	t.Helper()
	if err := s.commit(s.version); err != nil {
		t.Fatal(err)
	}
}

func codeOf(err error) store.Code {
	code, _ := store.ErrorCode(err)
	return code
}

func TestSequencerAdmit(t *testing.T) {
	s := newSequencer(0, "ab", testLimits)
	mustPlace(t, s, "ann", "a1", 0, ot.Insertion(2, 2, "c"))
	commitAll(t, s)
	mustPlace(t, s, "ann", "a2", 1, ot.Insertion(3, 3, "d")) // placed, not committed
	s.forbid("bob", "old", 1)
	for _, tc := range []struct {
		name     string
		user, id string
		base     int64
		dup      int64
		code     store.Code
	}{
		{"fresh", "ann", "a3", 1, 0, ""},
		{"ahead of the committed head", "ann", "a3", 2, 0, store.CodeBadRequest},
		{"re-send of a committed op, from its base", "ann", "a1", 0, 1, ""},
		{"re-send of an uncommitted op", "ann", "a2", 1, 2, ""},
		{"re-send judged before its base: base 0 is fine", "ann", "a2", 0, 2, ""},
		{"id used for an earlier version", "ann", "a1", 1, 0, store.CodeConflict},
		{"same id, another author", "bob", "a1", 1, 0, ""},
		{"id stored beyond the window, reused", "bob", "old", 1, 0, store.CodeConflict},
		{"id stored beyond the window, op made before it", "bob", "old", 0, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dup, err := s.admit(tc.user, tc.id, tc.base)
			if dup != tc.dup || codeOf(err) != tc.code && !(tc.code == "" && err == nil) {
				t.Errorf("admit(%s, %s, %d) = %d, %v; want %d, %q", tc.user, tc.id, tc.base, dup, err, tc.dup, tc.code)
			}
		})
	}
	far := newSequencer(500, "", seqLimits{MaxDocBytes: 100, WindowOps: 4, WindowBytes: 100, MaxBehind: 10})
	if _, err := far.admit("ann", "x", 489); codeOf(err) != store.CodeBadRequest {
		t.Errorf("11 versions behind with MaxBehind 10: %v", err)
	}
	if _, err := far.admit("ann", "x", 490); err != nil {
		t.Errorf("10 versions behind with MaxBehind 10: %v", err)
	}
}

func TestSequencerPlace(t *testing.T) {
	s := newSequencer(0, "ab", testLimits)
	// Two inserts at one place, made at the same version: the one sequenced
	// first goes first.
	mustPlace(t, s, "ann", "a1", 0, ot.Insertion(2, 1, "X"))
	mustPlace(t, s, "bob", "b1", 0, ot.Insertion(2, 1, "Y"))
	if s.headText() != "aXYb" || s.version != 2 {
		t.Fatalf("after two concurrent inserts: %q at %d", s.headText(), s.version)
	}
	// A deletion made at version 0 is moved over both.
	mustPlace(t, s, "cat", "c1", 0, ot.Deletion(2, 1, 1))
	if s.headText() != "aXY" {
		t.Fatalf("after a late delete: %q", s.headText())
	}

	// A re-send found in the history scan (its id no longer in the window's
	// ids, as when it has left the window) is a duplicate: nothing placed.
	delete(s.ids, opKey{"ann", "a1"})
	since, _ := s.recent(0, s.version)
	if rec, dup, err := s.place("ann", "a1", 0, ot.Insertion(2, 1, "X"), since); err != nil || dup != 1 || rec.Version != 0 {
		t.Errorf("re-send found in history = %+v, %d, %v; want dup 1", rec, dup, err)
	}

	// Refusals change nothing.
	before := *s
	since, _ = s.recent(3, 3)
	if _, _, err := s.place("ann", "bad", 3, ot.Insertion(7, 0, "z"), since); codeOf(err) != store.CodeInvalidOp {
		t.Errorf("op for a longer text: %v, want invalid_op", err)
	}
	small := newSequencer(0, "", seqLimits{MaxDocBytes: 4, WindowOps: 4, WindowBytes: 100, MaxBehind: 10})
	if _, _, err := small.place("ann", "big", 0, ot.Insertion(0, 0, "hello"), nil); codeOf(err) != store.CodeTooLarge {
		t.Errorf("op past MaxDocBytes: %v, want too_large", err)
	}
	if small.version != 0 || small.headText() != "" {
		t.Errorf("refused op changed the sequencer: %q at %d", small.headText(), small.version)
	}
	if s.version != before.version || s.headText() != before.headText() || len(s.window) != len(before.window) {
		t.Errorf("refused op changed the sequencer: %q at %d", s.headText(), s.version)
	}
	// History that does not match the head is a bug of the caller.
	if _, _, err := s.place("ann", "x", 0, ot.Insertion(2, 0, "z"), since); err == nil {
		t.Error("place with too little history succeeded")
	}
}

func TestSequencerCommit(t *testing.T) {
	s := newSequencer(0, "", testLimits)
	mustPlace(t, s, "ann", "a1", 0, ot.Insertion(0, 0, "a"))
	mustPlace(t, s, "ann", "a2", 0, ot.Insertion(0, 0, "b")) // made before a1 landed
	if err := s.commit(1); err != nil {
		t.Fatal(err)
	}
	if s.committed != 1 || s.stableText() != "a" || s.headText() != "ab" || s.version != 2 {
		t.Fatalf("after committing 1 of 2: committed %d %q, head %q", s.committed, s.stableText(), s.headText())
	}
	commitAll(t, s)
	if s.committed != 2 || s.stableText() != "ab" || s.version != 2 {
		t.Fatalf("after committing both: committed %d %q", s.committed, s.stableText())
	}
	for _, v := range []int64{2, 3} {
		if err := s.commit(v); err == nil {
			t.Errorf("committing through %d with 2 committed and head 2 succeeded", v)
		}
	}
}

// An op whose id turns out to be stored already (a commit refused it) is
// rolled back with everything placed after the committed head; its id is
// then refused at once, and the rest is placed again from its own base.
func TestSequencerRollBack(t *testing.T) {
	s := newSequencer(0, "ab", testLimits)
	mustPlace(t, s, "ann", "a1", 0, ot.Insertion(2, 0, "1"))
	commitAll(t, s)
	mustPlace(t, s, "ann", "stale", 1, ot.Insertion(3, 0, "2"))
	mustPlace(t, s, "bob", "b1", 1, ot.Insertion(3, 3, "3"))
	window, bytes := len(s.window), s.windowBytes

	s.rollBack()
	s.forbid("ann", "stale", 1)
	if s.version != 1 || s.headText() != "1ab" || len(s.window) != window-2 || s.windowBytes >= bytes {
		t.Fatalf("after rollback: %q at %d, window %d", s.headText(), s.version, len(s.window))
	}
	if _, err := s.admit("ann", "stale", 1); codeOf(err) != store.CodeConflict {
		t.Errorf("the reused id again: %v, want conflict", err)
	}
	// bob's op is not known any more: it is placed anew from its base.
	mustPlace(t, s, "bob", "b1", 1, ot.Insertion(3, 3, "3"))
	if s.headText() != "1ab3" || s.version != 2 {
		t.Errorf("bob's op placed again: %q at %d", s.headText(), s.version)
	}
}

// The window keeps at most about WindowOps ops and WindowBytes bytes of
// committed ops, never drops an uncommitted one, and recent says where it
// starts.
func TestSequencerWindow(t *testing.T) {
	s := newSequencer(0, "", seqLimits{MaxDocBytes: 1 << 20, WindowOps: 4, WindowBytes: 1 << 20, MaxBehind: 1000})
	for i := range 20 {
		// All made at version 0, none committed: the window keeps them all.
		mustPlace(t, s, "ann", "o"+string(rune('a'+i)), 0, ot.Insertion(0, 0, "x"))
	}
	if len(s.window) != 20 || s.headText() != strings.Repeat("x", 20) {
		t.Fatalf("uncommitted ops were dropped: window %d", len(s.window))
	}
	commitAll(t, s)
	if len(s.window) != 4 {
		t.Fatalf("window after committing 20 with WindowOps 4: %d", len(s.window))
	}
	if _, ok := s.ids[opKey{"ann", "oa"}]; ok {
		t.Error("an op that left the window kept its id")
	}
	recs, start := s.recent(10, 20)
	if start != 17 || len(recs) != 4 || recs[0].Version != 17 {
		t.Errorf("recent(10, 20) = %d ops from %d", len(recs), start)
	}
	if recs, _ := s.recent(18, 19); len(recs) != 1 || recs[0].Version != 19 {
		t.Errorf("recent(18, 19) = %v", recs)
	}

	big := newSequencer(0, "", seqLimits{MaxDocBytes: 1 << 20, WindowOps: 100, WindowBytes: 10 << 10, MaxBehind: 1000})
	chunk := strings.Repeat("y", 4<<10)
	n := 0
	for i := range 6 {
		mustPlace(t, big, "ann", "b"+string(rune('a'+i)), int64(i), ot.Insertion(n, n, chunk))
		n += len(chunk)
		commitAll(t, big)
	}
	if big.windowBytes > 10<<10 || len(big.window) == 0 {
		t.Errorf("window of %d bytes in %d ops with WindowBytes 10 KiB", big.windowBytes, len(big.window))
	}
}

// TestSequencerLazyText: the sequencer makes its texts only when asked, from
// the text at a committed version and the window's ops since. Random edits,
// placed at the head, committed some at a time, with texts asked for now
// and then and a window small enough to be trimmed often, must give the
// texts that applying each op in turn gives; so must a rollback.
func TestSequencerLazyText(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	s := newSequencer(0, "héllo", seqLimits{MaxDocBytes: 1 << 20, WindowOps: 3, WindowBytes: 1 << 20, MaxBehind: 1000})
	texts := []string{"héllo"} // texts[v]: the text at version v
	for i := range 400 {
		// Made at the committed version (a client only knows those), and
		// brought over the rest by the sequencer.
		n := utf8.RuneCountInString(texts[s.committed])
		var op ot.Op
		if pos := r.IntN(n + 1); n > 0 && r.IntN(3) == 0 {
			op = ot.Deletion(n, min(pos, n-1), 1)
		} else {
			op = ot.Insertion(n, pos, string(rune('a'+r.IntN(26)))+"€")
		}
		mustPlace(t, s, "ann", fmt.Sprint("o", i), s.committed, op)
		next, err := ot.Apply(texts[len(texts)-1], s.window[len(s.window)-1].Op)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, next)
		if r.IntN(4) == 0 {
			through := s.committed + 1 + r.Int64N(s.version-s.committed)
			if err := s.commit(through); err != nil {
				t.Fatal(err)
			}
		}
		switch r.IntN(5) {
		case 0:
			if got := s.stableText(); got != texts[s.committed] {
				t.Fatalf("op %d: stable text at %d is %q, want %q", i, s.committed, got, texts[s.committed])
			}
		case 1:
			if got := s.headText(); got != texts[s.version] {
				t.Fatalf("op %d: head text at %d is %q, want %q", i, s.version, got, texts[s.version])
			}
		}
		if got, want := s.stableLen(), utf8.RuneCountInString(texts[s.committed]); got != want {
			t.Fatalf("op %d: stable length %d, want %d", i, got, want)
		}
		if s.maxBytes < len(texts[s.version]) {
			t.Fatalf("op %d: byte bound %d under the text's %d", i, s.maxBytes, len(texts[s.version]))
		}
	}
	s.rollBack()
	texts = texts[:s.committed+1]
	if s.headText() != texts[s.committed] || s.length != utf8.RuneCountInString(texts[s.committed]) || s.maxBytes != len(texts[s.committed]) {
		t.Fatalf("after rollback: %q (%d code points, ≤ %d bytes), want %q", s.headText(), s.length, s.maxBytes, texts[s.committed])
	}
}

// TestSequencerSizeLimit: the size limit is judged on the text itself once
// the ops' inserted bytes say it might be passed: a replacement that keeps
// the size fits at the limit; one more byte does not, and changes nothing.
func TestSequencerSizeLimit(t *testing.T) {
	s := newSequencer(0, "abcd", seqLimits{MaxDocBytes: 4, WindowOps: 4, WindowBytes: 1 << 20, MaxBehind: 10})
	var b ot.Builder
	replace := b.Delete(4).Insert("wxyz").Op()
	mustPlace(t, s, "ann", "r", 0, replace)
	if s.headText() != "wxyz" || s.maxBytes != 4 {
		t.Fatalf("after a same-size replacement: %q, bound %d", s.headText(), s.maxBytes)
	}
	commitAll(t, s)
	if _, _, err := s.place("ann", "more", 1, ot.Insertion(4, 4, "!"), nil); codeOf(err) != store.CodeTooLarge {
		t.Fatalf("a fifth byte: %v, want too_large", err)
	}
	if s.version != 1 || s.headText() != "wxyz" || s.length != 4 {
		t.Fatalf("refused op changed the sequencer: %q at %d", s.headText(), s.version)
	}
	// Deletions make room again.
	mustPlace(t, s, "ann", "del", 1, ot.Deletion(4, 0, 2))
	commitAll(t, s)
	mustPlace(t, s, "ann", "ins", 2, ot.Insertion(2, 2, "é"))
	if s.headText() != "yzé" {
		t.Fatalf("after delete and insert: %q", s.headText())
	}
}
