// Package ot implements operational transformation for plain text.
//
// A document is a Unicode string; every position and length counts code points,
// never bytes or UTF-16 units, so an operation can never split a character.
// An operation (Op) walks the whole document from start to end with three kinds
// of component: retain n code points, insert a string, delete n code points.
// Its wire form is the JSON array that ot.js uses: a positive integer retains, a
// string inserts and a negative integer deletes, as in [3, "hi", -2, 5].
//
// Ops are immutable values, safe to share between goroutines. They are always
// normalised: no empty components, no two neighbours of one kind, and an insert
// always precedes a delete it touches. Unlike some OT libraries, an Op keeps its
// trailing retain, so its base length is explicit and an op made against a
// document of another length is refused instead of silently misapplied.
//
// The package is pure: no I/O, goroutines, clocks or logging.
package ot

import (
	"strings"
	"unicode/utf8"
	"unsafe"
)

// MaxLen bounds every length an Op can describe (its base and target length,
// and so each component), so that length arithmetic can never overflow.
const MaxLen = 1 << 30

// component is one step of an operation: an insert when s is non-empty (then n
// is the number of code points in s), otherwise a retain (n > 0) or a delete
// of -n code points (n < 0).
type component struct {
	n int
	s string
}

func (c component) isInsert() bool { return c.s != "" }
func (c component) isRetain() bool { return c.s == "" && c.n > 0 }
func (c component) isDelete() bool { return c.s == "" && c.n < 0 }

// length is the number of code points the component covers (inserted, retained
// or deleted).
func (c component) length() int {
	if c.n < 0 {
		return -c.n
	}
	return c.n
}

// Op is a text operation. The zero Op is the identity on the empty document.
// Build one with a Builder, or decode its JSON wire form.
type Op struct {
	comps  []component
	base   int // code points the op expects in its input document
	target int // code points in the document it produces
}

// BaseLen is the length, in code points, of the documents op applies to.
func (op Op) BaseLen() int { return op.base }

// InsertedBytes is how many UTF-8 bytes op inserts: applied, it makes a
// text at most this much longer in bytes.
func (op Op) InsertedBytes() int { return insertedBytes(op) }

// TargetLen is the length, in code points, of the document op produces.
func (op Op) TargetLen() int { return op.target }

// IsNoop reports whether op leaves every document unchanged (it only retains).
func (op Op) IsNoop() bool {
	return len(op.comps) == 0 || (len(op.comps) == 1 && op.comps[0].isRetain())
}

// Size is roughly how many bytes op holds in memory: its inserted text and
// its components. Callers that keep many ops use it to bound them by bytes.
func (op Op) Size() int {
	n := len(op.comps) * int(unsafe.Sizeof(component{}))
	for _, c := range op.comps {
		n += len(c.s)
	}
	return n
}

// Equal reports whether op and other are the same operation.
func (op Op) Equal(other Op) bool {
	if op.base != other.base || op.target != other.target || len(op.comps) != len(other.comps) {
		return false
	}
	for i, c := range op.comps {
		if c != other.comps[i] {
			return false
		}
	}
	return true
}

// String returns the wire form, e.g. [3,"hi",-2,5].
func (op Op) String() string { return string(op.AppendJSON(nil)) }

// Builder assembles a normalised Op from retains, inserts and deletes, in
// document order. The zero Builder is ready to use; its methods chain:
//
//	op := new(ot.Builder).Retain(3).Insert("hi").Delete(2).Retain(5).Op()
type Builder struct {
	op Op
}

// Retain keeps the next n code points. Zero is ignored; a negative n panics.
func (b *Builder) Retain(n int) *Builder {
	if n < 0 {
		panic("ot: Builder.Retain with a negative count")
	}
	if n == 0 {
		return b
	}
	b.op.base += n
	b.op.target += n
	if last := len(b.op.comps) - 1; last >= 0 && b.op.comps[last].isRetain() {
		b.op.comps[last].n += n
		return b
	}
	b.op.comps = append(b.op.comps, component{n: n})
	return b
}

// Insert inserts s at the current position. An empty s is ignored. Invalid
// UTF-8 in s is replaced with U+FFFD, so that an Op always holds valid text.
func (b *Builder) Insert(s string) *Builder {
	if s == "" {
		return b
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	n := utf8.RuneCountInString(s)
	b.op.target += n
	comps := b.op.comps
	last := len(comps) - 1
	switch {
	case last >= 0 && comps[last].isInsert():
		comps[last].s += s
		comps[last].n += n
	case last >= 0 && comps[last].isDelete():
		// Normal form puts the insert before a delete it touches.
		if last >= 1 && comps[last-1].isInsert() {
			comps[last-1].s += s
			comps[last-1].n += n
			break
		}
		del := comps[last]
		comps[last] = component{n: n, s: s}
		comps = append(comps, del)
	default:
		comps = append(comps, component{n: n, s: s})
	}
	b.op.comps = comps
	return b
}

// Delete removes the next n code points. Zero is ignored; a negative n panics.
func (b *Builder) Delete(n int) *Builder {
	if n < 0 {
		panic("ot: Builder.Delete with a negative count")
	}
	if n == 0 {
		return b
	}
	b.op.base += n
	if last := len(b.op.comps) - 1; last >= 0 && b.op.comps[last].isDelete() {
		b.op.comps[last].n -= n
		return b
	}
	b.op.comps = append(b.op.comps, component{n: -n})
	return b
}

// add appends one component of any kind.
func (b *Builder) add(c component) {
	switch {
	case c.isInsert():
		b.Insert(c.s)
	case c.n > 0:
		b.Retain(c.n)
	default:
		b.Delete(-c.n)
	}
}

// Op returns the operation built so far and resets the builder, so the
// returned Op never shares memory with later building.
func (b *Builder) Op() Op {
	op := b.op
	b.op = Op{}
	return op
}

// Insertion returns the op that inserts text at pos in a document of docLen
// code points.
func Insertion(docLen, pos int, text string) Op {
	return new(Builder).Retain(pos).Insert(text).Retain(docLen - pos).Op()
}

// Deletion returns the op that deletes n code points at pos in a document of
// docLen code points.
func Deletion(docLen, pos, n int) Op {
	return new(Builder).Retain(pos).Delete(n).Retain(docLen - pos - n).Op()
}

// Identity returns the op that leaves a document of docLen code points as it is.
func Identity(docLen int) Op {
	return new(Builder).Retain(docLen).Op()
}
