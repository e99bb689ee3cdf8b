package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"tandem/store"
)

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
