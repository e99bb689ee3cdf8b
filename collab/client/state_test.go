package client

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"tandem/ot"
)

// TestState walks the three states of §9 with one remote op in each.
func TestState(t *testing.T) {
	s := NewState("abc", 0)
	s.IDPrefix = "me"
	p, err := s.Edit(ot.Insertion(3, 0, "X")) // Synchronized → AwaitingAck
	if err != nil || p == nil || p.ID != "me-1" || p.Base != 0 {
		t.Fatalf("first edit: %+v, %v", p, err)
	}
	if p, err := s.Edit(ot.Insertion(4, 4, "Y")); err != nil || p != nil { // → with buffer
		t.Fatalf("second edit: %+v, %v", p, err)
	}
	if _, err := s.Remote(1, 2, ot.Insertion(3, 1, "zz")); !errors.Is(err, ErrNeedHistory) {
		t.Fatalf("composed op while pending: %v", err)
	}
	applied, err := s.Remote(1, 1, ot.Insertion(3, 1, "r"))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Text(); got != "XarbcY" || !applied.Equal(ot.Insertion(5, 2, "r")) {
		t.Fatalf("after remote: %q, applied %v", got, applied)
	}
	if o := s.Outstanding(); !o.Orig.Equal(ot.Insertion(3, 0, "X")) || !o.Op.Equal(ot.Insertion(4, 0, "X")) {
		t.Fatalf("outstanding %+v", o)
	}
	next := s.Ack(2) // the buffer goes out, at the ack's version
	if next == nil || next.ID != "me-2" || next.Base != 2 || !next.Orig.Equal(ot.Insertion(5, 5, "Y")) {
		t.Fatalf("after ack: %+v", next)
	}
	if _, err := s.Remote(2, 2, ot.Identity(6)); err == nil {
		t.Fatal("a version already seen was accepted")
	}
	if s.Ack(3) != nil || !s.Synced() || s.Version() != 3 {
		t.Fatalf("not synced at 3: %+v", s)
	}
	if _, err := s.Remote(4, 5, ot.Insertion(6, 6, "!")); err != nil || s.Text() != "XarbcY!" {
		t.Fatalf("composed op while synced: %v, %q", err, s.Text())
	}
}

func TestLengthState(t *testing.T) {
	s := NewLengthState(3, 7)
	if err := s.RemoteLen(8, 8, 3, 5); err != nil || s.Len() != 5 {
		t.Fatalf("RemoteLen: %v, %d", err, s.Len())
	}
	if err := s.RemoteLen(9, 9, 4, 5); err == nil {
		t.Fatal("a wrong base length was accepted")
	}
	if _, err := s.Edit(ot.Deletion(5, 0, 2)); err != nil || s.Len() != 3 || s.Text() != "" {
		t.Fatalf("edit: %v, %d", err, s.Len())
	}
}

// TestStateTextAfterManyOps: the text, which takes ops in batches, is the
// text with every op applied whenever it is read, local edits and remote
// ops mixed, across more ops than one batch.
func TestStateTextAfterManyOps(t *testing.T) {
	s := NewState("", 0)
	s.IDPrefix = "me"
	want := ""
	for i := range 3 * maxUnapplied {
		n := len([]rune(want))
		op := ot.Insertion(n, (i*7)%(n+1), string(rune('a'+i%26))+"é")
		if i%3 == 0 {
			if _, err := s.Edit(op); err != nil {
				t.Fatal(err)
			}
			if s.Ack(s.Version()+1) != nil {
				t.Fatal("a buffer appeared")
			}
		} else if _, err := s.Remote(s.Version()+1, s.Version()+1, op); err != nil {
			t.Fatal(err)
		}
		var err error
		if want, err = ot.Apply(want, op); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 || i == 3*maxUnapplied-1 {
			if got := s.Text(); got != want {
				t.Fatalf("after %d ops: %q, want %q", i+1, got, want)
			}
		}
		if s.Len() != len([]rune(want)) {
			t.Fatalf("after %d ops: length %d, want %d", i+1, s.Len(), len([]rune(want)))
		}
	}
}

// TestReceiveIsRemote: Receive leaves a state as Remote does (length,
// version, pending ops, errors), length-only or not, with edits pending or
// not, for random edits and remote ops, some of a wrong length.
func TestReceiveIsRemote(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	edit := func(n int) ot.Op {
		pos := rng.IntN(n + 1)
		if n > 0 && rng.IntN(3) == 0 {
			del := 1 + rng.IntN(min(n-pos, 3)+1)
			pos = min(pos, n-1)
			return ot.Deletion(n, pos, min(del, n-pos))
		}
		return ot.Insertion(n, pos, "ab"[:1+rng.IntN(2)])
	}
	for _, lengthOnly := range []bool{true, false} {
		var a, b *State
		if lengthOnly {
			a, b = NewLengthState(5, 0), NewLengthState(5, 0)
		} else {
			a, b = NewState("hello", 0), NewState("hello", 0)
		}
		server := 5 // the server's length
		for i := range 3000 {
			switch k := rng.IntN(10); {
			case k < 3:
				op := edit(a.Len())
				pa, errA := a.Edit(op)
				pb, errB := b.Edit(op)
				if (errA == nil) != (errB == nil) || (pa == nil) != (pb == nil) {
					t.Fatalf("%d: edit: %v %v", i, errA, errB)
				}
			case k < 4 && a.Outstanding() != nil:
				// The server applies the outstanding op: its length is the
				// outstanding op's length change away.
				o := a.Outstanding().Op
				server += o.TargetLen() - o.BaseLen()
				v := a.Version() + 1
				a.Ack(v)
				b.Ack(v)
			default:
				n := server
				if rng.IntN(50) == 0 {
					n++ // a wrong length
				}
				op := edit(n)
				v := a.Version() + 1
				_, errA := a.Remote(v, v, op)
				errB := b.Receive(v, v, op)
				if fmt.Sprint(errA) != fmt.Sprint(errB) {
					t.Fatalf("%d: Remote %v, Receive %v", i, errA, errB)
				}
				if errA == nil {
					server = op.TargetLen()
				}
			}
			if a.Len() != b.Len() || a.Version() != b.Version() || a.Text() != b.Text() || (a.Outstanding() == nil) != (b.Outstanding() == nil) ||
				(a.Outstanding() != nil && !a.Outstanding().Op.Equal(b.Outstanding().Op)) || (a.Buffer() == nil) != (b.Buffer() == nil) ||
				(a.Buffer() != nil && !a.Buffer().Equal(*b.Buffer())) {
				t.Fatalf("%d: states differ: %+v, %+v", i, a, b)
			}
		}
	}
}
