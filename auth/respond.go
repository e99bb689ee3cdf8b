package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"unicode/utf8"

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
	code, msg := store.ErrorCode(err)
	if code == store.CodeInternal {
		log.ErrorContext(r.Context(), "request failed",
			slog.Group("request", "method", r.Method, "path", r.URL.Path), "err", err)
	}
	WriteJSON(w, StatusOf(code), ErrorBody{Code: code, Message: msg})
}

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

// DecodeJSON reads r's body, of at most limit bytes, into dst: one JSON
// object with no unknown fields and nothing after it. Its errors are
// *store.Error values with codes bad_request, too_large or unsupported.
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return store.Errorf(store.CodeUnsupported, "request body must be application/json")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return jsonError(err)
	}
	return Decode(body, dst)
}

// Decode is DecodeJSON for a body already read: one JSON object into dst,
// strictly. It checks that the bytes are UTF-8 first: encoding/json would
// silently replace invalid ones.
func Decode(body []byte, dst any) error {
	if !utf8.Valid(body) {
		return store.Errorf(store.CodeBadRequest, "request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return store.Errorf(store.CodeBadRequest, "request body must hold one JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return store.Errorf(store.CodeTooLarge, "request body is larger than %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		return store.Errorf(store.CodeBadRequest, "request body is empty")
	case errors.As(err, &syntax):
		return store.Errorf(store.CodeBadRequest, "request body is not valid JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typeErr):
		if typeErr.Field != "" {
			return store.Errorf(store.CodeBadRequest, "field %q must be %s", typeErr.Field, typeErr.Type)
		}
		return store.Errorf(store.CodeBadRequest, "request body must be a JSON object")
	}
	// Unknown fields, an unexpected EOF, or an error from a field's own
	// UnmarshalJSON: the message says which.
	return store.Errorf(store.CodeBadRequest, "invalid request body: %v", err)
}
