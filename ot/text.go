package ot

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// CheckText reports whether s may appear in a document: valid UTF-8 with no
// carriage return (documents use "\n" line endings, as the browser editor
// does) and no U+0000 (Postgres text cannot hold it, and both stores keep the
// same rules). Its error wraps ErrMalformed.
func CheckText(s string) error {
	if problem := textProblem(s); problem != "" {
		return fmt.Errorf("%w: %s", ErrMalformed, problem)
	}
	return nil
}

// CheckOp reports whether every insert of op is text that CheckText accepts.
// Parse and UnmarshalJSON only return such ops; a Builder takes any text, so
// callers that build ops from other input check them with CheckOp. Its error
// wraps ErrMalformed.
func CheckOp(op Op) error {
	for i, c := range op.comps {
		if !c.isInsert() {
			continue
		}
		if problem := textProblem(c.s); problem != "" {
			return fmt.Errorf("%w: component %d: %s", ErrMalformed, i, problem)
		}
	}
	return nil
}

// textProblem says what is wrong with s as document text, or "" if nothing.
func textProblem(s string) string {
	if !utf8.ValidString(s) {
		return "text is not valid UTF-8"
	}
	if strings.IndexByte(s, '\r') >= 0 {
		return "text contains a carriage return (documents use \\n line endings)"
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "text contains U+0000 (NUL), which documents cannot hold"
	}
	return ""
}
