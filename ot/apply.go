package ot

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"unicode/utf8"
)

// ErrMismatch reports operations that do not fit their document or each other:
// an op whose base length is not the document's length, two ops composed whose
// lengths do not chain, or two ops transformed that start from different
// documents. Errors returned by Apply, Invert, Compose and Transform wrap it.
var ErrMismatch = errors.New("ot: length mismatch")

// Apply returns doc with op applied. It fails with ErrMismatch unless op's base
// length is the number of code points in doc.
func Apply(doc string, op Op) (string, error) {
	if op.IsNoop() {
		if runeCount(doc) != op.base {
			return "", shortDoc(doc, op)
		}
		return doc, nil
	}
	var out strings.Builder
	// Inserts usually outweigh deletes by little: size for the common case.
	out.Grow(len(doc) + insertedBytes(op))
	i := 0 // byte offset in doc
	for _, c := range op.comps {
		switch {
		case c.isInsert():
			out.WriteString(c.s)
		case c.n > 0:
			j, ok := skipRunes(doc, i, c.n)
			if !ok {
				return "", shortDoc(doc, op)
			}
			out.WriteString(doc[i:j])
			i = j
		default:
			j, ok := skipRunes(doc, i, -c.n)
			if !ok {
				return "", shortDoc(doc, op)
			}
			i = j
		}
	}
	if i != len(doc) {
		return "", shortDoc(doc, op)
	}
	return out.String(), nil
}

// Invert returns the op that undoes op, given doc, the text op was applied to:
// Apply(Apply(doc, op), Invert(op, doc)) == doc.
func Invert(op Op, doc string) (Op, error) {
	var b Builder
	i := 0
	for _, c := range op.comps {
		switch {
		case c.isInsert():
			b.Delete(c.n)
		case c.n > 0:
			j, ok := skipRunes(doc, i, c.n)
			if !ok {
				return Op{}, shortDoc(doc, op)
			}
			b.Retain(c.n)
			i = j
		default:
			j, ok := skipRunes(doc, i, -c.n)
			if !ok {
				return Op{}, shortDoc(doc, op)
			}
			b.Insert(doc[i:j])
			i = j
		}
	}
	if i != len(doc) {
		return Op{}, shortDoc(doc, op)
	}
	return b.Op(), nil
}

// shortDoc is the error for an op whose base length is not doc's length.
func shortDoc(doc string, op Op) error {
	return fmt.Errorf("%w: operation spans %d code points, document has %d", ErrMismatch, op.base, runeCount(doc))
}

func insertedBytes(op Op) int {
	n := 0
	for _, c := range op.comps {
		n += len(c.s)
	}
	return n
}

// skipRunes returns the byte offset n code points after byte offset i in s,
// and false if s ends first. s must be valid UTF-8 for the count to match
// utf8.RuneCountInString (on invalid input it never panics, but may count
// differently). It counts rune starts, the bytes that are not 10xxxxxx, eight
// bytes at a time, which makes a keystroke into a large document cheap
// whatever its script.
func skipRunes(s string, i, n int) (int, bool) {
	const hi = 0x8080808080808080
	for i+8 <= len(s) {
		w := load64(s, i)
		// A continuation byte has bit 7 set and bit 6 clear; w<<1 brings each
		// byte's bit 6 up to bit 7's place.
		starts := 8 - bits.OnesCount64(w&^(w<<1)&hi)
		if starts > n {
			break
		}
		i += 8
		n -= starts
	}
	for ; i < len(s); i++ {
		if s[i]&0xC0 != 0x80 {
			if n == 0 {
				return i, true
			}
			n--
		}
	}
	return i, n == 0
}

func runeCount(s string) int { return utf8.RuneCountInString(s) }

// load64 reads eight bytes of s at i as one word; the compiler turns it into a
// single load.
func load64(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}
