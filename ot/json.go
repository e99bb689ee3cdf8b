package ot

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrMalformed reports an operation or text that is not well formed: bad JSON,
// a float, zero or an empty string as a component, invalid UTF-8, a lone
// UTF-16 surrogate escape, a carriage return, U+0000, or a length over MaxLen.
// Errors returned by Parse, UnmarshalJSON, CheckText and CheckOp wrap it.
var ErrMalformed = errors.New("ot: malformed operation")

// MarshalJSON returns op's wire form, a JSON array such as [3,"hi",-2,5].
func (op Op) MarshalJSON() ([]byte, error) {
	return op.AppendJSON(make([]byte, 0, 16+insertedBytes(op))), nil
}

// AppendJSON appends op's wire form to dst and returns the extended slice.
func (op Op) AppendJSON(dst []byte) []byte {
	dst = append(dst, '[')
	for i, c := range op.comps {
		if i > 0 {
			dst = append(dst, ',')
		}
		if c.isInsert() {
			dst = appendString(dst, c.s)
		} else {
			dst = strconv.AppendInt(dst, int64(c.n), 10)
		}
	}
	return append(dst, ']')
}

// WireSize is the length of op's wire form (what AppendJSON writes),
// without building it: a keystroke's op is measured without allocating.
func (op Op) WireSize() int {
	var buf [64]byte
	n := 2 + max(len(op.comps)-1, 0) // the brackets and the commas
	for _, c := range op.comps {
		if c.isInsert() {
			n += len(appendString(buf[:0], c.s))
		} else {
			n += len(strconv.AppendInt(buf[:0], int64(c.n), 10))
		}
	}
	return n
}

// UnmarshalJSON decodes the wire form. It accepts components in any order and
// normalises them, but refuses, with an error wrapping ErrMalformed, anything
// that is not an array of non-zero integers and non-empty strings of valid
// text. It reads the raw JSON itself because encoding/json silently turns a
// lone surrogate escape such as "\ud800" into U+FFFD.
func (op *Op) UnmarshalJSON(data []byte) error {
	parsed, err := parseOp(data, false)
	if err != nil {
		return err
	}
	*op = parsed
	return nil
}

// Parse decodes an operation from its JSON wire form, as UnmarshalJSON does.
func Parse(data []byte) (Op, error) { return parseOp(data, false) }

// ParseStored decodes an operation that a store wrote, which may predate the
// refusal of U+0000: it is Parse, except that each U+0000 in an insert becomes
// U+FFFD. One code point replaces one, so the op still fits the versions
// stored after it. New input must go through Parse.
func ParseStored(data []byte) (Op, error) { return parseOp(data, true) }

func parseOp(data []byte, stored bool) (Op, error) {
	p := parser{data: data}
	p.space()
	if !p.consume('[') {
		return Op{}, p.fail("an operation must be a JSON array")
	}
	// Most ops are a retain, an insert or delete, and a retain: room for
	// four components saves growing the slice three times.
	b := Builder{op: Op{comps: make([]component, 0, 4)}}
	p.space()
	if p.consume(']') {
		return p.finish(&b)
	}
	for k := 0; ; k++ {
		switch c := p.peek(); {
		case c == '"':
			s, err := p.str()
			if err != nil {
				return Op{}, p.fail(fmt.Sprintf("component %d: %v", k, err))
			}
			if s == "" {
				return Op{}, p.fail(fmt.Sprintf("component %d: an insert must not be empty", k))
			}
			if stored {
				s = strings.ReplaceAll(s, "\x00", "\uFFFD")
			}
			if problem := textProblem(s); problem != "" {
				return Op{}, p.fail(fmt.Sprintf("component %d: %s", k, problem))
			}
			b.Insert(s)
		case c == '-' || (c >= '0' && c <= '9'):
			n, err := p.integer()
			if err != nil {
				return Op{}, p.fail(fmt.Sprintf("component %d: %v", k, err))
			}
			if n > 0 {
				b.Retain(int(n))
			} else {
				b.Delete(int(-n))
			}
		default:
			return Op{}, p.fail(fmt.Sprintf("component %d: want an integer or a string", k))
		}
		if b.op.base > MaxLen || b.op.target > MaxLen {
			return Op{}, p.fail(fmt.Sprintf("the operation spans more than %d code points", MaxLen))
		}
		p.space()
		if p.consume(']') {
			return p.finish(&b)
		}
		if !p.consume(',') {
			return Op{}, p.fail(fmt.Sprintf("after component %d: want ',' or ']'", k))
		}
		p.space()
	}
}

// parser reads the wire form from raw JSON bytes.
type parser struct {
	data []byte
	i    int
}

func (p *parser) fail(msg string) error {
	return fmt.Errorf("%w: %s (at byte %d)", ErrMalformed, msg, p.i)
}

func (p *parser) finish(b *Builder) (Op, error) {
	p.space()
	if p.i != len(p.data) {
		return Op{}, p.fail("unexpected data after the operation")
	}
	return b.Op(), nil
}

func (p *parser) peek() byte {
	if p.i < len(p.data) {
		return p.data[p.i]
	}
	return 0
}

func (p *parser) consume(c byte) bool {
	if p.i < len(p.data) && p.data[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// integer reads a JSON number that must be a non-zero integer within MaxLen.
func (p *parser) integer() (int64, error) {
	start := p.i
	neg := p.consume('-')
	digits := p.i
	var n int64
	for p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9' {
		if n <= MaxLen {
			n = n*10 + int64(p.data[p.i]-'0')
		}
		p.i++
	}
	switch {
	case p.i == digits:
		return 0, errors.New("a number needs digits")
	case p.peek() == '.' || p.peek() == 'e' || p.peek() == 'E':
		return 0, fmt.Errorf("%s… is not an integer", p.data[start:p.i])
	case p.data[digits] == '0' && p.i-digits > 1:
		return 0, fmt.Errorf("%s has a leading zero", p.data[start:p.i])
	case n == 0:
		return 0, errors.New("zero is not a component")
	case n > MaxLen:
		return 0, fmt.Errorf("%s is larger than %d", p.data[start:p.i], MaxLen)
	}
	if neg {
		n = -n
	}
	return n, nil
}

// str reads a JSON string, checking UTF-8 and surrogate pairs strictly.
func (p *parser) str() (string, error) {
	p.i++ // the opening quote
	start := p.i
	var buf []byte // nil until the first escape: most strings have none
	for {
		if p.i >= len(p.data) {
			return "", errors.New("unterminated string")
		}
		c := p.data[p.i]
		switch {
		case c == '"':
			var s string
			if buf == nil {
				s = string(p.data[start:p.i])
			} else {
				s = string(buf)
			}
			p.i++
			return s, nil
		case c == '\\':
			if buf == nil {
				buf = append(make([]byte, 0, 2*(p.i-start)+8), p.data[start:p.i]...)
			}
			var err error
			if buf, err = p.escape(buf); err != nil {
				return "", err
			}
		case c < 0x20:
			return "", fmt.Errorf("control character %#02x in a string must be escaped", c)
		case c < utf8.RuneSelf:
			if buf != nil {
				buf = append(buf, c)
			}
			p.i++
		default:
			r, size := utf8.DecodeRune(p.data[p.i:])
			if r == utf8.RuneError && size == 1 {
				return "", errors.New("string is not valid UTF-8")
			}
			if buf != nil {
				buf = append(buf, p.data[p.i:p.i+size]...)
			}
			p.i += size
		}
	}
}

// escape decodes the escape sequence at p.i and appends it to buf.
func (p *parser) escape(buf []byte) ([]byte, error) {
	if p.i+1 >= len(p.data) {
		return nil, errors.New("unterminated escape")
	}
	c := p.data[p.i+1]
	p.i += 2
	switch c {
	case '"', '\\', '/':
		return append(buf, c), nil
	case 'b':
		return append(buf, '\b'), nil
	case 'f':
		return append(buf, '\f'), nil
	case 'n':
		return append(buf, '\n'), nil
	case 'r':
		return append(buf, '\r'), nil
	case 't':
		return append(buf, '\t'), nil
	case 'u':
		r, err := p.hex4()
		if err != nil {
			return nil, err
		}
		switch {
		case utf16.IsSurrogate(r) && r < 0xDC00:
			// A high surrogate must be followed by an escaped low one.
			if p.i+1 >= len(p.data) || p.data[p.i] != '\\' || p.data[p.i+1] != 'u' {
				return nil, fmt.Errorf("lone surrogate \\u%04x", r)
			}
			p.i += 2
			lo, err := p.hex4()
			if err != nil {
				return nil, err
			}
			if lo < 0xDC00 || lo > 0xDFFF {
				return nil, fmt.Errorf("lone surrogate \\u%04x", r)
			}
			return utf8.AppendRune(buf, utf16.DecodeRune(r, lo)), nil
		case utf16.IsSurrogate(r):
			return nil, fmt.Errorf("lone surrogate \\u%04x", r)
		}
		return utf8.AppendRune(buf, r), nil
	}
	return nil, fmt.Errorf("unknown escape \\%c", c)
}

// hex4 reads the four hex digits of a \u escape.
func (p *parser) hex4() (rune, error) {
	if p.i+4 > len(p.data) {
		return 0, errors.New("short \\u escape")
	}
	var r rune
	for _, c := range p.data[p.i : p.i+4] {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, errors.New("bad hex digit in \\u escape")
		}
		r = r<<4 | rune(d)
	}
	p.i += 4
	return r, nil
}

// appendString appends s as a JSON string. s is valid UTF-8 (Builder makes
// sure). U+2028 and U+2029 are escaped so the output is also valid JavaScript.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != '\u2028' && r != '\u2029' {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\u202`...)
			dst = append(dst, hex[r&0xF])
			i += size
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
