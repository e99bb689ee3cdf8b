package ot

import (
	"fmt"
)

// cursor walks an op's components and hands them out whole or in pieces.
type cursor struct {
	comps []component
	i     int // index of the current component
	off   int // code points of comps[i] already taken
	boff  int // bytes of comps[i].s already taken (inserts only)
}

func (c *cursor) done() bool { return c.i >= len(c.comps) }

// peek returns the current component, or the zero component when done.
func (c *cursor) peek() component {
	if c.done() {
		return component{}
	}
	return c.comps[c.i]
}

// remaining is how many code points of the current component are left.
func (c *cursor) remaining() int { return c.peek().length() - c.off }

// take returns the next n code points of the current component (n at most
// remaining()) as a component of the same kind, and advances past them.
func (c *cursor) take(n int) component {
	cur := c.comps[c.i]
	var out component
	switch {
	case cur.isInsert():
		end, _ := skipRunes(cur.s, c.boff, n)
		out = component{n: n, s: cur.s[c.boff:end]}
		c.boff = end
	case cur.n > 0:
		out = component{n: n}
	default:
		out = component{n: -n}
	}
	c.off += n
	if c.off == cur.length() {
		c.i++
		c.off, c.boff = 0, 0
	}
	return out
}

// takeAll returns the rest of the current component.
func (c *cursor) takeAll() component { return c.take(c.remaining()) }

// sized returns a Builder with room for n components: one allocation for the
// whole result instead of a few as it grows.
func sized(n int) Builder {
	return Builder{op: Op{comps: make([]component, 0, n)}}
}

// Compose returns the single op that does a and then b:
// Apply(d, Compose(a, b)) == Apply(Apply(d, a), b). It fails with ErrMismatch
// unless b's base length is a's target length.
func Compose(a, b Op) (Op, error) {
	if a.target != b.base {
		return Op{}, fmt.Errorf("%w: cannot compose: first op produces %d code points, second expects %d", ErrMismatch, a.target, b.base)
	}
	out := sized(len(a.comps) + len(b.comps))
	ca, cb := cursor{comps: a.comps}, cursor{comps: b.comps}
	for {
		// What b inserts and what a deletes pass straight through.
		if pb := cb.peek(); pb.isInsert() {
			out.add(cb.takeAll())
			continue
		}
		if pa := ca.peek(); pa.isDelete() {
			out.add(ca.takeAll())
			continue
		}
		if ca.done() || cb.done() {
			// Matching lengths make both end together.
			break
		}
		n := min(ca.remaining(), cb.remaining())
		pa, pb := ca.take(n), cb.take(n)
		switch {
		case pa.isRetain() && pb.isRetain():
			out.Retain(n)
		case pa.isRetain() && pb.isDelete():
			out.Delete(n)
		case pa.isInsert() && pb.isRetain():
			out.Insert(pa.s)
			// An insert that b deletes never happened.
		}
	}
	return out.Op(), nil
}

// ComposeAll returns the single op that does ops in order, each applying to
// what the one before it made: Apply(d, ComposeAll(ops)) applies them all
// to d in one pass over it, which for many small edits to a large text is
// far cheaper than applying them one by one. It composes neighbours
// pairwise, round by round, so that n scattered edits cost about
// n log n steps rather than n². It fails with ErrMismatch unless the
// lengths chain, and for no ops at all.
func ComposeAll(ops []Op) (Op, error) {
	if len(ops) == 0 {
		return Op{}, fmt.Errorf("%w: nothing to compose", ErrMismatch)
	}
	var own []Op // after the first round: composed in place (slot i/2 from i, i+1)
	for len(ops) > 1 {
		if own == nil {
			own = make([]Op, (len(ops)+1)/2)
		}
		n := 0
		for i := 0; i < len(ops); i += 2 {
			if i+1 == len(ops) {
				own[n] = ops[i]
			} else {
				c, err := Compose(ops[i], ops[i+1])
				if err != nil {
					return Op{}, err
				}
				own[n] = c
			}
			n++
		}
		ops, own = own[:n], own[:n]
	}
	return ops[0], nil
}

// Transform takes two ops made concurrently on the same document, where a was
// sequenced first, and returns aPrime and bPrime such that
// Apply(Apply(d, a), bPrime) == Apply(Apply(d, b), aPrime). When both insert at
// one position, a's text comes first. It fails with ErrMismatch unless a and b
// have the same base length.
//
// To bring an op over a history, transform it over each op in turn, as the
// clients do (TransformOverAll does, cheaply): transforming over the history
// composed into one op is not always the same (an insert that a later op
// deletes no longer anchors a tie-break).
func Transform(a, b Op) (aPrime, bPrime Op, err error) {
	if a.base != b.base {
		return Op{}, Op{}, fmt.Errorf("%w: cannot transform: ops expect %d and %d code points", ErrMismatch, a.base, b.base)
	}
	ap, bp := sized(len(a.comps)+len(b.comps)), sized(len(a.comps)+len(b.comps))
	transform(a, b, &ap, &bp)
	return ap.Op(), bp.Op(), nil
}

// TransformOver is Transform(a, b)'s bPrime alone: b brought over a, which
// was sequenced first (a's inserts come first at a tie). It builds nothing
// for a, which makes it the cheaper way to bring an op over a history.
func TransformOver(b, a Op) (Op, error) {
	if a.base != b.base {
		return Op{}, fmt.Errorf("%w: cannot transform: ops expect %d and %d code points", ErrMismatch, a.base, b.base)
	}
	bp := sized(len(a.comps) + len(b.comps))
	transform(a, b, nil, &bp)
	return bp.Op(), nil
}

// transform is Transform's walk over a and b, building aPrime in ap (unless
// nil) and bPrime in bp.
func transform(a, b Op, ap, bp *Builder) {
	ca, cb := cursor{comps: a.comps}, cursor{comps: b.comps}
	for {
		// Inserts first, a's before b's: that is the tie-break.
		if pa := ca.peek(); pa.isInsert() {
			ins := ca.takeAll()
			if ap != nil {
				ap.Insert(ins.s)
			}
			bp.Retain(ins.n)
			continue
		}
		if pb := cb.peek(); pb.isInsert() {
			ins := cb.takeAll()
			if ap != nil {
				ap.Retain(ins.n)
			}
			bp.Insert(ins.s)
			continue
		}
		if ca.done() || cb.done() {
			return
		}
		n := min(ca.remaining(), cb.remaining())
		pa, pb := ca.take(n), cb.take(n)
		switch {
		case pa.isRetain() && pb.isRetain():
			if ap != nil {
				ap.Retain(n)
			}
			bp.Retain(n)
		case pa.isDelete() && pb.isRetain():
			if ap != nil {
				ap.Delete(n)
			}
		case pa.isRetain() && pb.isDelete():
			bp.Delete(n)
			// Both deleted the same text: neither needs to delete it again.
		}
	}
}

// TransformIndex moves a position (in code points) through op, as an editor
// moves a caret when op is applied. Text inserted before pos pushes it right;
// deleted text before it pulls it left, and a pos inside deleted text moves to
// where the deletion happened. For an insert exactly at pos, own decides:
// true (op is the caret owner's own typing) puts pos after the new text, false
// (someone else's edit) leaves it before. A pos outside the document is first
// clamped to [0, op.BaseLen()]; the result is in [0, op.TargetLen()].
func TransformIndex(pos int, op Op, own bool) int {
	pos = max(0, min(pos, op.base))
	out := pos
	at := 0 // position in the input document
	for _, c := range op.comps {
		if at > pos {
			break
		}
		switch {
		case c.isInsert():
			if at < pos || own {
				out += c.n
			}
		case c.n > 0:
			at += c.n
		default:
			if at < pos {
				out -= min(-c.n, pos-at)
			}
			at -= c.n
		}
	}
	return out
}

// Range is a selection in a document: anchor is where it started, head where
// the caret is. Anchor == Head is a plain caret. Positions count code points.
type Range struct {
	Anchor int `json:"anchor"`
	Head   int `json:"head"`
}

// Transform moves both ends of r through op; own is as for TransformIndex.
func (r Range) Transform(op Op, own bool) Range {
	return Range{Anchor: TransformIndex(r.Anchor, op, own), Head: TransformIndex(r.Head, op, own)}
}

// InBounds reports whether both ends of r lie within a document of docLen.
func (r Range) InBounds(docLen int) bool {
	return r.Anchor >= 0 && r.Anchor <= docLen && r.Head >= 0 && r.Head <= docLen
}

// TransformRanges returns a new slice with each range moved through op.
func TransformRanges(ranges []Range, op Op, own bool) []Range {
	if ranges == nil {
		return nil
	}
	out := make([]Range, len(ranges))
	for i, r := range ranges {
		out[i] = r.Transform(op, own)
	}
	return out
}
