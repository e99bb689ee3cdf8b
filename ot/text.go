package ot

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// CheckText reports whether s may appear in a document: valid UTF-8 and no
// carriage return (documents use "\n" line endings, as the browser editor
// does). Its error wraps ErrMalformed.
func CheckText(s string) error {
	if problem := textProblem(s); problem != "" {
		return fmt.Errorf("%w: %s", ErrMalformed, problem)
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
	return ""
}
