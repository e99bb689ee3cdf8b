package store

import (
	"errors"
	"io"
	"testing"
)

// TestErrorfWraps: Errorf's %w keeps the cause for errors.Is and errors.As
// while clients see the formatted message and the code.
func TestErrorfWraps(t *testing.T) {
	err := Errorf(CodeBadRequest, "reading the body: %w", io.ErrUnexpectedEOF)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("%v does not wrap io.ErrUnexpectedEOF", err)
	}
	if code, msg := ErrorCode(err); code != CodeBadRequest || msg != "reading the body: unexpected EOF" {
		t.Errorf("ErrorCode = %s, %q", code, msg)
	}
	two := Errorf(CodeConflict, "%w and %w", ErrConflict, io.EOF)
	if !errors.Is(two, ErrConflict) || !errors.Is(two, io.EOF) {
		t.Errorf("%v does not wrap both", two)
	}
	if plain := Errorf(CodeNotFound, "no %s", "thing"); plain.Unwrap() != nil {
		t.Errorf("Errorf without %%w wraps %v", plain.Unwrap())
	}
}
