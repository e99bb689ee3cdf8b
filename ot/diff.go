package ot

import (
	"iter"
	"unicode/utf8"
)

// Component is one step of an Op, as Components yields it: exactly one of
// Retain (code points kept), Insert (text inserted) and Delete (code points
// removed) is set.
type Component struct {
	Retain int
	Insert string
	Delete int
}

// Components yields op's steps in document order.
func (op Op) Components() iter.Seq[Component] {
	return func(yield func(Component) bool) {
		for _, c := range op.comps {
			var out Component
			switch {
			case c.isInsert():
				out.Insert = c.s
			case c.n > 0:
				out.Retain = c.n
			default:
				out.Delete = -c.n
			}
			if !yield(out) {
				return
			}
		}
	}
}

// Diff returns an op that turns a into b: it keeps their longest common
// prefix and then their longest common suffix (in whole code points), and
// replaces what lies between. It is linear in the texts' length, and the
// identity on a when a == b.
func Diff(a, b string) Op {
	// Common prefix, in bytes, backed up to a character boundary (in valid
	// UTF-8, a boundary of a there is one of b: the bytes before are equal).
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	for p > 0 && (p < len(a) && !utf8.RuneStart(a[p]) || p < len(b) && !utf8.RuneStart(b[p])) {
		p--
	}
	// Common suffix of what is left, backed up to a character boundary.
	s := 0
	for s < len(a)-p && s < len(b)-p && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	for s > 0 && !utf8.RuneStart(a[len(a)-s]) {
		s--
	}
	var bld Builder
	bld.Retain(utf8.RuneCountInString(a[:p]))
	bld.Insert(b[p : len(b)-s])
	bld.Delete(utf8.RuneCountInString(a[p : len(a)-s]))
	bld.Retain(utf8.RuneCountInString(a[len(a)-s:]))
	return bld.Op()
}
