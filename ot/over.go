package ot

import (
	"fmt"
	"iter"
)

// TransformOverAll brings b over a history: each op of history was
// sequenced before b, in order, and each applies to the document the one
// before it made. It equals calling TransformOver(b, a) for each op a in
// turn, and is what a sequencer does with a late op.
//
// It is much cheaper for the common case of keystrokes: while b and the
// history's ops are each one edit at one place (a retain, an insert, a
// delete, a retain: the shape of typing and of most cuts and pastes), b
// moves over them by arithmetic, building nothing until the end. At the
// first op of another shape it goes on with TransformOver.
func TransformOverAll(b Op, history iter.Seq[Op]) (Op, error) {
	cur, fast := spotOf(b)
	var err error
	for a := range history {
		if fast {
			if a.base != cur.base {
				return Op{}, fmt.Errorf("%w: cannot transform: ops expect %d and %d code points", ErrMismatch, a.base, cur.base)
			}
			if as, ok := spotOf(a); ok {
				if next, ok := cur.over(as); ok {
					cur = next
					continue
				}
			}
			b, fast = cur.op(), false
		}
		if b, err = TransformOver(b, a); err != nil {
			return Op{}, err
		}
	}
	if fast {
		return cur.op(), nil
	}
	return b, nil
}

// spot is an op that makes one edit at one place: retain pos, insert ins
// (nIns code points), delete del, retain the rest of base.
type spot struct {
	pos, nIns, del, base int
	ins                  string
}

// spotOf returns op as a spot, or false if it is not of that shape.
func spotOf(op Op) (spot, bool) {
	s := spot{base: op.base}
	c, i := op.comps, 0
	if i < len(c) && c[i].isRetain() {
		s.pos = c[i].n
		i++
	}
	if i < len(c) && c[i].isInsert() {
		s.ins, s.nIns = c[i].s, c[i].n
		i++
	}
	if i < len(c) && c[i].isDelete() {
		s.del = -c[i].n
		i++
	}
	if i < len(c) && c[i].isRetain() {
		i++
	}
	return s, i == len(c)
}

// over is b (s) brought over a, sequenced first, as TransformOver does it:
// at a tie a's insert comes first, and what both delete is deleted once.
// It reports false when the result is not a spot: a's insert falls inside
// b's deletion, which then deletes on both sides of it.
func (s spot) over(a spot) (spot, bool) {
	aEnd, sEnd := a.pos+a.del, s.pos+s.del
	if a.nIns > 0 && s.pos < a.pos && a.pos < sEnd {
		return spot{}, false
	}
	out := spot{ins: s.ins, nIns: s.nIns, base: a.base + a.nIns - a.del}
	switch {
	case s.pos < a.pos:
		out.pos = s.pos
	case s.pos <= aEnd: // at a's place, or in what a deleted: after a's insert
		out.pos = a.pos + a.nIns
	default:
		out.pos = s.pos + a.nIns - a.del
	}
	out.del = s.del - max(0, min(aEnd, sEnd)-max(a.pos, s.pos))
	return out, true
}

// op builds the spot as an Op.
func (s spot) op() Op {
	b := sized(4)
	b.Retain(s.pos)
	b.Insert(s.ins)
	b.Delete(s.del)
	b.Retain(s.base - s.pos - s.del)
	return b.Op()
}
