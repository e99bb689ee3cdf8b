package collab

import (
	"strings"
	"testing"

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
	if s.text != "aXYb" || s.version != 2 {
		t.Fatalf("after two concurrent inserts: %q at %d", s.text, s.version)
	}
	// A deletion made at version 0 is moved over both.
	mustPlace(t, s, "cat", "c1", 0, ot.Deletion(2, 1, 1))
	if s.text != "aXY" {
		t.Fatalf("after a late delete: %q", s.text)
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
	if small.version != 0 || small.text != "" {
		t.Errorf("refused op changed the sequencer: %q at %d", small.text, small.version)
	}
	if s.version != before.version || s.text != before.text || len(s.window) != len(before.window) {
		t.Errorf("refused op changed the sequencer: %q at %d", s.text, s.version)
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
	if s.committed != 1 || s.stable != "a" || s.text != "ab" || s.version != 2 {
		t.Fatalf("after committing 1 of 2: committed %d %q, head %q", s.committed, s.stable, s.text)
	}
	commitAll(t, s)
	if s.committed != 2 || s.stable != "ab" || s.version != 2 {
		t.Fatalf("after committing both: committed %d %q", s.committed, s.stable)
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
	if s.version != 1 || s.text != "1ab" || len(s.window) != window-2 || s.windowBytes >= bytes {
		t.Fatalf("after rollback: %q at %d, window %d", s.text, s.version, len(s.window))
	}
	if _, err := s.admit("ann", "stale", 1); codeOf(err) != store.CodeConflict {
		t.Errorf("the reused id again: %v, want conflict", err)
	}
	// bob's op is not known any more: it is placed anew from its base.
	mustPlace(t, s, "bob", "b1", 1, ot.Insertion(3, 3, "3"))
	if s.text != "1ab3" || s.version != 2 {
		t.Errorf("bob's op placed again: %q at %d", s.text, s.version)
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
	if len(s.window) != 20 || s.text != strings.Repeat("x", 20) {
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
