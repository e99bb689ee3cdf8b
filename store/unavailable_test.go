package store

import (
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
)

type pgErr string

func (e pgErr) Error() string    { return "pg " + string(e) }
func (e pgErr) SQLState() string { return string(e) }

type liteErr int

func (e liteErr) Error() string { return fmt.Sprint("sqlite ", int(e)) }
func (e liteErr) Code() int     { return int(e) }

func TestUnavailable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("boom"), false},
		{ErrNotFound, false},
		{pgErr("08006"), true},
		{pgErr("53100"), true},
		{pgErr("57P01"), true},
		{pgErr("25006"), true},
		{pgErr("23505"), false},
		{pgErr("22021"), false},
		{fmt.Errorf("commit: %w", pgErr("53100")), true},
		{liteErr(13), true},
		{liteErr(8 | 1<<8), true}, // an extended read-only code
		{liteErr(10 | 3<<8), true},
		{liteErr(2067), false}, // a unique constraint
		{&net.OpError{Op: "dial", Err: errors.New("refused")}, true},
		{fmt.Errorf("append: %w", io.ErrUnexpectedEOF), true}, // the server went away mid-reply
		{fmt.Errorf("lease: %w", ErrFenced), false},           // not the store's state: unavailable to clients all the same
	} {
		if got := Unavailable(tc.err); got != tc.want {
			t.Errorf("Unavailable(%v) = %v, want %v", tc.err, got, tc.want)
		}
		if code, _ := ErrorCode(tc.err); tc.err != nil && (code == CodeUnavailable) != (tc.want || errors.Is(tc.err, ErrFenced)) {
			t.Errorf("ErrorCode(%v) = %s", tc.err, code)
		}
	}
}
