package store

import (
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
)

// Unavailable reports whether err says that the storage cannot serve now —
// it is unreachable, out of space, read-only, overloaded or shutting down —
// rather than anything about the request: the client should retry later.
// It knows the drivers' errors by their methods (a Postgres SQLSTATE, a
// SQLite result code), so that this package need not import the drivers,
// and network errors on the way to the database.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		state := pg.SQLState()
		switch {
		case strings.HasPrefix(state, "08"), // connection exception
			strings.HasPrefix(state, "53"),  // insufficient resources: disk full, out of memory, too many connections
			strings.HasPrefix(state, "58"),  // system error, e.g. an I/O error
			strings.HasPrefix(state, "57P"), // the server is shutting down or starting
			state == "25006":                // read-only transaction: a read-only database or a standby
			return true
		}
		return false
	}
	var lite interface{ Code() int }
	if errors.As(err, &lite) {
		switch lite.Code() & 0xff { // the primary result code
		case sqliteBusy, sqliteLocked, sqliteNoMem, sqliteReadOnly, sqliteIOErr, sqliteFull, sqliteCantOpen:
			return true
		}
		return false
	}
	var netErr *net.OpError
	// A connection that ends in the middle of a reply (the server went
	// away) reads as an unexpected EOF.
	return errors.As(err, &netErr) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

// SQLite's primary result codes that mean the file cannot serve now.
const (
	sqliteBusy     = 5
	sqliteLocked   = 6
	sqliteNoMem    = 7
	sqliteReadOnly = 8
	sqliteIOErr    = 10
	sqliteFull     = 13
	sqliteCantOpen = 14
)
