package store

import (
	"errors"
	"fmt"
)

// Code is an error code that clients see, on REST and on the socket alike.
// The set is fixed; the protocol document lists it.
type Code string

// The error codes.
const (
	CodeBadRequest   Code = "bad_request"  // malformed or invalid input
	CodeUnauthorized Code = "unauthorized" // not signed in, or bad credentials
	CodeForbidden    Code = "forbidden"    // signed in, but the role does not allow it
	CodeNotFound     Code = "not_found"    // no such thing, or not yours to see
	CodeConflict     Code = "conflict"     // clashes with existing data
	CodeInvalidOp    Code = "invalid_op"   // an operation that does not parse or apply
	CodeTooLarge     Code = "too_large"    // over a size limit
	CodeRateLimited  Code = "rate_limited" // too many requests; retry later
	CodeInternal     Code = "internal"     // our fault; details are in the server log
	CodeUnavailable  Code = "unavailable"  // shutting down or the store is unreachable
	CodeUnsupported  Code = "unsupported"  // e.g. a wrong content type or subprotocol
)

// Error is an error whose message is safe to show to clients, with its code.
// Anything that is not an *Error (or a sentinel of this package) is shown to
// clients as "internal" with a generic message, and logged in full.
type Error struct {
	Code    Code
	Message string
	wrapped []error // what Errorf's %w verbs wrapped
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns what Errorf's %w verbs wrapped, so that errors.Is and
// errors.As see through an *Error to its cause.
func (e *Error) Unwrap() []error { return e.wrapped }

// Errorf returns an *Error with a formatted message. As in fmt.Errorf, a %w
// verb formats its argument as %v does and also keeps it as the cause.
func Errorf(code Code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	e := &Error{Code: code, Message: err.Error()}
	switch w := err.(type) {
	case interface{ Unwrap() []error }:
		e.wrapped = w.Unwrap()
	case interface{ Unwrap() error }:
		e.wrapped = []error{w.Unwrap()}
	}
	return e
}

// ErrorCode returns the code clients see for err, and the message they see:
// an *Error's own, a generic one for the sentinels, and "internal error" for
// everything else.
func ErrorCode(err error) (Code, string) {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Code, e.Message
	case errors.Is(err, ErrNotFound):
		return CodeNotFound, "not found"
	case errors.Is(err, ErrDuplicate):
		return CodeConflict, "operation already stored"
	case errors.Is(err, ErrConflict):
		return CodeConflict, "conflict"
	case errors.Is(err, ErrInvalid):
		return CodeBadRequest, "invalid request"
	case errors.Is(err, ErrFenced), Unavailable(err):
		return CodeUnavailable, "the store is unavailable; retry"
	}
	return CodeInternal, "internal error"
}
