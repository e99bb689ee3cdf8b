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
	"reflect"
	"strconv"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

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
// object, strictly (see DecodeStrict). Its errors are *store.Error values
// with codes bad_request, too_large or unsupported.
func DecodeJSON(w http.ResponseWriter, r *http.Request, limit int64, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return store.Errorf(store.CodeUnsupported, "request body must be application/json")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return readError(err)
	}
	return Decode(body, dst)
}

// Decode is DecodeJSON for a body already read: one JSON object into dst,
// strictly (see DecodeStrict).
func Decode(body []byte, dst any) error { return DecodeStrict(body, dst, "request body") }

// DecodeStrict decodes data, which what names in error messages ("request
// body", "message"), into dst with the json/v2 semantics the protocol
// requires: exactly one JSON value and nothing after it, valid UTF-8 (no
// lone surrogate escapes), member names matched exactly (case included),
// no duplicate and no unknown members. Custom UnmarshalJSON methods (such as
// ot.Op's) are called as usual. Its errors are *store.Error values with code
// bad_request whose messages say what is wrong; they also wrap the decoder's
// error, so callers can test the cause (an ot.ErrMalformed, or where a
// *jsontext.SyntacticError lies) with errors.Is and errors.As.
func DecodeStrict(data []byte, dst any, what string) error {
	if !utf8.Valid(data) {
		return store.Errorf(store.CodeBadRequest, "%s is not valid UTF-8", what)
	}
	if len(bytes.Trim(data, " \t\r\n")) == 0 { // JSON whitespace only
		return store.Errorf(store.CodeBadRequest, "%s is empty", what)
	}
	dec := jsontext.NewDecoder(bytes.NewReader(data)) // duplicate names are an error by default
	if err := jsonv2.UnmarshalDecode(dec, dst, jsonv2.RejectUnknownMembers(true)); err != nil {
		return fmt.Errorf("%w: %w", describe(err, what), err)
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return store.Errorf(store.CodeBadRequest, "%s must hold one JSON value and nothing after it", what)
	}
	return nil
}

// describe words a json/v2 decoding error for clients.
func describe(err error, what string) *store.Error {
	var syn *jsontext.SyntacticError
	var sem *jsonv2.SemanticError
	switch {
	case errors.Is(err, jsontext.ErrDuplicateName):
		return store.Errorf(store.CodeBadRequest, "%s has a duplicate member %q", what, pointerOf(err))
	case errors.As(err, &syn):
		return store.Errorf(store.CodeBadRequest, "%s is not valid JSON (at byte %d): %v", what, syn.ByteOffset, syn.Err)
	case errors.Is(err, jsonv2.ErrUnknownName):
		return store.Errorf(store.CodeBadRequest, "%s has an unknown member %q (names are case-sensitive)", what, pointerOf(err))
	case errors.As(err, &sem):
		field := string(sem.JSONPointer)
		switch {
		case field == "":
			return store.Errorf(store.CodeBadRequest, "%s must be %s", what, kindOf(sem.GoType))
		case sem.GoType != nil && reflect.PointerTo(sem.GoType).Implements(unmarshalerType) && sem.Err != nil:
			return store.Errorf(store.CodeBadRequest, "%s member %q: %v", what, field, sem.Err)
		case sem.Err != nil:
			return store.Errorf(store.CodeBadRequest, "%s member %q must be %s (%v)", what, field, kindOf(sem.GoType), sem.Err)
		}
		return store.Errorf(store.CodeBadRequest, "%s member %q must be %s", what, field, kindOf(sem.GoType))
	}
	return store.Errorf(store.CodeBadRequest, "invalid %s: %v", what, err)
}

var unmarshalerType = reflect.TypeFor[jsonv2.Unmarshaler]()

// pointerOf is the JSON pointer (e.g. "/name") of the member err is about.
func pointerOf(err error) string {
	var syn *jsontext.SyntacticError
	var sem *jsonv2.SemanticError
	switch {
	case errors.As(err, &syn):
		return string(syn.JSONPointer)
	case errors.As(err, &sem):
		return string(sem.JSONPointer)
	}
	return ""
}

// kindOf says which JSON value a Go type takes, for error messages.
func kindOf(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another type"
}

// readError words an error from reading a request body.
func readError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return store.Errorf(store.CodeTooLarge, "request body is larger than %d bytes", tooBig.Limit)
	}
	return store.Errorf(store.CodeBadRequest, "reading the request body: %w", err)
}
