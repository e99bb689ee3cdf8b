package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"tandem/ot"
)

// ShareDB documents here are json0 objects {text: "..."}; an edit is a list
// of string components at the path ["text", offset], applied in turn:
// {p: ["text", 3], si: "x"} inserts, {p: ["text", 3], sd: "xy"} deletes (the
// deleted text itself, which the server checks). Offsets count UTF-16 code
// units, as JavaScript strings do; ot.Op counts code points. The conversions
// below walk the text the op applies to, so an editor keeps the server's text
// (its base) beside its own.

// json0Comp is one json0 component of a string edit.
type json0Comp struct {
	P  []any   `json:"p"`
	SI *string `json:"si,omitempty"`
	SD *string `json:"sd,omitempty"`
}

// json0Field is the document's field that holds the text.
const json0Field = "text"

// toJSON0 turns op, made against base, into json0 components: each insert
// and delete at its UTF-16 offset in the text as the earlier components
// left it.
func toJSON0(base string, op ot.Op) ([]json0Comp, error) {
	var parts []json.RawMessage
	if err := json.Unmarshal(op.AppendJSON(nil), &parts); err != nil {
		return nil, err
	}
	var comps []json0Comp
	pos16 := 0 // UTF-16 offset in the text produced so far
	rest := base
	for _, part := range parts {
		if len(part) > 0 && part[0] == '"' {
			var s string
			if err := json.Unmarshal(part, &s); err != nil {
				return nil, err
			}
			comps = append(comps, json0Comp{P: []any{json0Field, pos16}, SI: &s})
			pos16 += utf16Len(s)
			continue
		}
		var n int
		if err := json.Unmarshal(part, &n); err != nil {
			return nil, err
		}
		k := n
		if k < 0 {
			k = -k
		}
		i, ok := runeOffset(rest, k)
		if !ok {
			return nil, fmt.Errorf("op %s is longer than its base (%d code points)", op, utf8.RuneCountInString(base))
		}
		span := rest[:i]
		rest = rest[i:]
		if n > 0 {
			pos16 += utf16Len(span)
		} else {
			comps = append(comps, json0Comp{P: []any{json0Field, pos16}, SD: &span})
		}
	}
	return comps, nil
}

// fromJSON0 turns one json0 component, applied to base, into an ot.Op on
// base. It refuses components at another path, offsets inside a character or
// past the end, and a deletion of text that is not there.
func fromJSON0(base string, c json0Comp) (ot.Op, error) {
	if len(c.P) != 2 || c.P[0] != json0Field || (c.SI == nil) == (c.SD == nil) {
		return ot.Op{}, fmt.Errorf("unexpected json0 component %+v", c)
	}
	off, ok := c.P[1].(float64)
	if !ok || off < 0 || off != float64(int(off)) {
		return ot.Op{}, fmt.Errorf("json0 component with offset %v", c.P[1])
	}
	at, runes, ok := utf16ToByte(base, int(off))
	if !ok {
		return ot.Op{}, fmt.Errorf("json0 offset %v is not a character boundary of a %d-unit text", off, utf16Len(base))
	}
	n := utf8.RuneCountInString(base)
	if c.SI != nil {
		return ot.Insertion(n, runes, *c.SI), nil
	}
	if !strings.HasPrefix(base[at:], *c.SD) {
		return ot.Op{}, fmt.Errorf("json0 deletion of %q at %v: the text differs", *c.SD, off)
	}
	return ot.Deletion(n, runes, utf8.RuneCountInString(*c.SD)), nil
}

// utf16Len is s's length in UTF-16 code units.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

// utf16ToByte maps a UTF-16 offset in s to a byte offset and a code point
// count; ok is false past the end or inside a surrogate pair.
func utf16ToByte(s string, off int) (at, runes int, ok bool) {
	units := 0
	for i, r := range s {
		if units == off {
			return i, runes, true
		}
		if units > off {
			return 0, 0, false
		}
		units++
		if r >= 0x10000 {
			units++
		}
		runes++
	}
	if units == off {
		return len(s), runes, true
	}
	return 0, 0, false
}

// runeOffset is the byte offset of the n-th code point of s (len(s) for
// n equal to the count); ok is false if s is shorter.
func runeOffset(s string, n int) (int, bool) {
	i := 0
	for ; n > 0; n-- {
		if i >= len(s) {
			return 0, false
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return i, true
}
