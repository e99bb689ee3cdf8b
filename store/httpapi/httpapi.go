// Package httpapi is how Tandem's HTTP handlers speak JSON: requests are
// decoded strictly (Decode, DecodeJSON; the socket's messages use
// DecodeStrict too), responses written with WriteJSON, and an error becomes
// a response in one place: WriteError maps its store.Code to a status with
// the one table of the REST API (StatusOf) and answers {"code", "message"}.
//
// It lives under store because it is the HTTP side of store's error codes
// and imports nothing of Tandem but store, and because both auth (the
// account routes) and collab (the document routes and the socket) use it:
// each package imports only those to its left (ot ← store ← auth ← collab
// ← cmd), so it must sit at store's level, not in auth, where someone
// looking for how an error becomes a response would not look.
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"tandem/store"
)

// statusOf maps each error code to its HTTP status: the one table for REST.
var statusOf = map[store.Code]int{
	store.CodeBadRequest:   http.StatusBadRequest,
	store.CodeInvalidOp:    http.StatusBadRequest,
	store.CodeUnauthorized: http.StatusUnauthorized,
	store.CodeForbidden:    http.StatusForbidden,
	store.CodeNotFound:     http.StatusNotFound,
	store.CodeConflict:     http.StatusConflict,
	store.CodeTooLarge:     http.StatusRequestEntityTooLarge,
	store.CodeUnsupported:  http.StatusUnsupportedMediaType,
	store.CodeRateLimited:  http.StatusTooManyRequests,
	store.CodeUnavailable:  http.StatusServiceUnavailable,
	store.CodeInternal:     http.StatusInternalServerError,
}

// StatusOf returns the HTTP status for an error code.
func StatusOf(code store.Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ErrorBody is the JSON shape of every error response.
type ErrorBody struct {
	Code    store.Code `json:"code"`
	Message string     `json:"message"`
}

// WriteJSON writes v as a JSON response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do
}

// WriteError writes err as a JSON error with its code and status. Errors
// that are not meant for clients become "internal" with a generic message,
// and only those are logged, once, with the request. An error marked with
// Unavailable is answered as WriteUnavailable does.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var down *unavailableError
	if errors.As(err, &down) {
		WriteUnavailable(w, r, log, down.err)
		return
	}
	var safe *store.Error
	if !errors.As(err, &safe) && store.Unavailable(err) {
		WriteUnavailable(w, r, log, err) // the store failed, not the request
		return
	}
	code, msg := store.ErrorCode(err)
	if code == store.CodeInternal {
		log.ErrorContext(r.Context(), "request failed",
			slog.Group("request", "method", r.Method, "path", r.URL.Path), "err", err)
	}
	WriteJSON(w, StatusOf(code), ErrorBody{Code: code, Message: msg})
}

// WriteRateLimited answers 429 rate_limited, saying what was refused, with
// Retry-After: wait in whole seconds, at least 1.
func WriteRateLimited(w http.ResponseWriter, r *http.Request, log *slog.Logger, wait time.Duration, what string) {
	retry := RetrySeconds(wait)
	w.Header().Set("Retry-After", strconv.Itoa(retry))
	WriteError(w, r, log, store.Errorf(store.CodeRateLimited, "%s; retry in %d s", what, retry))
}

// RetrySeconds is a wait in whole seconds, at least 1, for Retry-After.
func RetrySeconds(d time.Duration) int { return max(1, int(math.Ceil(d.Seconds()))) }

// RetryAfterUnavailable is the Retry-After, in seconds, of a 503 for a
// store that failed: long enough not to hammer a store that is coming
// back, short enough that a client rides out a restart.
const RetryAfterUnavailable = 5

// unavailableError is a store failure met on a request's path.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// Unavailable marks err, an error from the store that says nothing about
// the request (the store is unreachable, full, read-only...), so that
// WriteError answers 503 "unavailable" with Retry-After rather than blaming
// the credential (401) or calling it a bug (500).
func Unavailable(err error) error { return &unavailableError{err: err} }

// WriteUnavailable answers 503 "unavailable" with Retry-After for a request
// the store could not serve, and logs the cause once, as a warning: it is an
// outage to watch, not a bug.
func WriteUnavailable(w http.ResponseWriter, r *http.Request, log *slog.Logger, cause error) {
	log.WarnContext(r.Context(), "store unavailable",
		slog.Group("request", "method", r.Method, "path", r.URL.Path), "err", cause)
	w.Header().Set("Retry-After", strconv.Itoa(RetryAfterUnavailable))
	WriteJSON(w, http.StatusServiceUnavailable, ErrorBody{Code: store.CodeUnavailable,
		Message: fmt.Sprintf("the store is unavailable; retry in %d s", RetryAfterUnavailable)})
}
