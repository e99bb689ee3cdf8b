package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// The editors read the server's frames with a small scanner rather than
// encoding/json: in a room of a thousand editors every editor gets every op,
// and decoding each message into a struct by reflection cost more CPU than
// the server spent sending it. The scanner picks out the few fields an
// editor uses and leaves the op as raw bytes; the rare messages that carry
// more (joined, error) are decoded with encoding/json.

// msg is one server message as an editor reads it. Its byte slices point
// into the frame and are valid only while the message is handled.
type msg struct {
	typ     []byte
	version int64
	from    int64  // a composed op: it stands for versions from..version
	id      []byte // an ack's or an op's id
	op      []byte // an op's wire form, unparsed
	raw     []byte // the whole message
}

// slowMsg is what encoding/json reads of the messages the scanner leaves:
// joined (its content) and error.
type slowMsg struct {
	Content *string `json:"content"`
	Code    string  `json:"code"`
	Message string  `json:"message"`
}

var errFrame = errors.New("bad frame")

// eachMsg calls fn with each message of a frame: one JSON object, or an
// array of them. It reads each into m (nil: a new one for the frame), which
// fn gets a pointer to: on the heap, so a caller that reads many frames
// passes its own.
func eachMsg(frame []byte, m *msg, fn func(m *msg) error) error {
	s := scanner{b: frame}
	if m == nil {
		m = new(msg)
	}
	s.space()
	if !s.consume('[') {
		return s.object(m, fn)
	}
	s.space()
	if s.consume(']') {
		return nil
	}
	for {
		if err := s.object(m, fn); err != nil {
			return err
		}
		s.space()
		if s.consume(']') {
			return nil
		}
		if !s.consume(',') {
			return s.fail("want , or ] between messages")
		}
		s.space()
	}
}

// scanner walks JSON that the server wrote; it checks structure, not every
// detail (a string's escapes, a number's form), which the server gets right.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) fail(what string) error {
	return fmt.Errorf("%w at byte %d: %s: %.200s", errFrame, s.i, what, s.b)
}

func (s *scanner) space() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\n' || s.b[s.i] == '\t' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *scanner) consume(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// object reads one message object into m and hands it to fn.
func (s *scanner) object(m *msg, fn func(m *msg) error) error {
	start := s.i
	if !s.consume('{') {
		return s.fail("want a message object")
	}
	*m = msg{}
	for first := true; ; first = false {
		if s.space(); s.consume('}') {
			break
		}
		if !first {
			if !s.consume(',') {
				return s.fail("want , or } in an object")
			}
			s.space()
		}
		key, ok := s.str()
		if s.space(); !ok || !s.consume(':') {
			return s.fail("want a key")
		}
		s.space()
		v := s.i
		if err := s.skip(); err != nil {
			return err
		}
		val := s.b[v:s.i]
		switch string(key) {
		case "type":
			m.typ = unquote(val)
		case "id":
			m.id = unquote(val)
		case "op":
			m.op = val
		case "version":
			m.version, _ = atoi(val)
		case "from":
			m.from, _ = atoi(val)
		}
	}
	m.raw = s.b[start:s.i]
	return fn(m)
}

// str reads a string and returns its raw content, escapes left as they are.
func (s *scanner) str() ([]byte, bool) {
	if !s.consume('"') {
		return nil, false
	}
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '"':
			s.i++
			return s.b[start : s.i-1], true
		case '\\':
			s.i++
		}
		s.i++
	}
	return nil, false
}

// skip moves past one JSON value.
func (s *scanner) skip() error {
	if s.i >= len(s.b) {
		return s.fail("want a value")
	}
	switch c := s.b[s.i]; c {
	case '"':
		if _, ok := s.str(); !ok {
			return s.fail("unterminated string")
		}
	case '{', '[':
		close := byte('}')
		if c == '[' {
			close = ']'
		}
		s.i++
		for s.space(); !s.consume(close); s.space() {
			if s.i >= len(s.b) {
				return s.fail("unterminated object or array")
			}
			if s.b[s.i] == ',' || s.b[s.i] == ':' {
				s.i++
				continue
			}
			if err := s.skip(); err != nil {
				return err
			}
		}
	default: // a number, true, false or null
		start := s.i
		for s.i < len(s.b) && !endsValue(s.b[s.i]) {
			s.i++
		}
		if s.i == start {
			return s.fail("want a value")
		}
	}
	return nil
}

// atoi reads a JSON integer (no fraction or exponent) without allocating.
func atoi(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

func endsValue(c byte) bool {
	return c == ',' || c == '}' || c == ']' || c == ' ' || c == '\n' || c == '\t' || c == '\r'
}

// unquote is a string value's content, decoded if it has escapes (which
// types and op ids never have).
func unquote(val []byte) []byte {
	if len(val) < 2 || val[0] != '"' {
		return nil
	}
	if bytes.IndexByte(val, '\\') < 0 {
		return val[1 : len(val)-1]
	}
	var s string
	if json.Unmarshal(val, &s) != nil {
		return nil
	}
	return []byte(s)
}

// opLens is the base and target length, in code points, of an op's wire
// form (an array of retains, inserts and deletes), read without building
// the op: what an editor that keeps no text needs of a remote op.
func opLens(op []byte) (base, target int, err error) {
	s := scanner{b: op}
	s.space()
	if !s.consume('[') {
		return 0, 0, s.fail("an op must be an array")
	}
	for s.space(); !s.consume(']'); s.space() {
		if s.consume(',') {
			continue
		}
		if s.i < len(s.b) && s.b[s.i] == '"' {
			raw, ok := s.str()
			if !ok {
				return 0, 0, s.fail("unterminated insert")
			}
			target += jsonRunes(raw)
			continue
		}
		start := s.i
		if err := s.skip(); err != nil {
			return 0, 0, err
		}
		n, ok := atoi(s.b[start:s.i])
		if !ok || n == 0 {
			return 0, 0, s.fail("want an integer or a string")
		}
		if n > 0 {
			base, target = base+int(n), target+int(n)
		} else {
			base -= int(n)
		}
	}
	return base, target, nil
}

// jsonRunes counts the code points of a JSON string's raw content: an
// escape is one, and so is a \uD83D\uDE00 surrogate pair.
func jsonRunes(raw []byte) int {
	n := 0
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\' && i+1 < len(raw) && raw[i+1] == 'u':
			// A high surrogate's pair follows it and counts with it.
			if i+12 <= len(raw) && isHighSurrogate(raw[i+2:i+6]) && raw[i+6] == '\\' && raw[i+7] == 'u' {
				i += 12
			} else {
				i += 6
			}
		case c == '\\':
			i += 2
		case c < utf8.RuneSelf:
			i++
		default:
			_, size := utf8.DecodeRune(raw[i:])
			i += size
		}
		n++
	}
	return n
}

func isHighSurrogate(hex []byte) bool {
	v, err := strconv.ParseUint(string(hex), 16, 16)
	return err == nil && v >= 0xD800 && v < 0xDC00
}
