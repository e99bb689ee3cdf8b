package client

import (
	"errors"
	"fmt"
	"time"
)

// Error is a refusal from the server, on the socket (an error message) or
// over HTTP (an error body): Code is one of the protocol's codes
// (docs/protocol.md §6), such as "not_found" or "rate_limited".
type Error struct {
	Code    string
	Message string
	// Status is the HTTP status, for a refusal over HTTP (0 on the socket).
	Status int
	// RetryAfter is the server's Retry-After, when it sent one.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Code returns the protocol error code in err's chain, or "" if there is
// none.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// ErrClosed is returned by a Doc or Conn after Close.
var ErrClosed = errors.New("client: closed")

// fatalCodes are the refusals after which an op will never apply (§9).
var fatalCodes = map[string]bool{
	"invalid_op": true, "forbidden": true, "too_large": true, "conflict": true,
	"not_found": true, "unsupported": true,
}
