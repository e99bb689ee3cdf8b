package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
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
// and only those are logged, once, with the request.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code, msg := store.ErrorCode(err)
	if code == store.CodeInternal {
		log.ErrorContext(r.Context(), "request failed",
			slog.Group("request", "method", r.Method, "path", r.URL.Path), "err", err)
	}
	WriteJSON(w, StatusOf(code), ErrorBody{Code: code, Message: msg})
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
