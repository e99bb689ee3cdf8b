package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"tandem/store"
)

// TestWriteError: an error becomes {"code", "message"} with the status of
// the table; a store outage is 503 with Retry-After; anything else is a
// generic 500, logged once with the cause.
func TestWriteError(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		status  int
		code    store.Code
		message string
		logged  string
	}{
		{"coded", store.Errorf(store.CodeTooLarge, "too big"), 413, store.CodeTooLarge, "too big", ""},
		{"wrapped code", fmt.Errorf("rename: %w", store.Errorf(store.CodeBadRequest, "bad title")), 400, store.CodeBadRequest, "bad title", ""},
		{"sentinel", fmt.Errorf("load: %w", store.ErrNotFound), 404, store.CodeNotFound, "not found", ""},
		{"unavailable", Unavailable(errors.New("disk full")), 503, store.CodeUnavailable, "the store is unavailable; retry in 5 s", "disk full"},
		{"bug", errors.New("nil map"), 500, store.CodeInternal, "internal error", "nil map"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			w := httptest.NewRecorder()
			WriteError(w, httptest.NewRequest("GET", "/api/x", nil), slog.New(slog.NewTextHandler(&logs, nil)), tc.err)
			var body ErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if w.Code != tc.status || body.Code != tc.code || body.Message != tc.message {
				t.Errorf("got %d %+v, want %d %s %q", w.Code, body, tc.status, tc.code, tc.message)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if (tc.status == 503) != (w.Header().Get("Retry-After") == "5") {
				t.Errorf("Retry-After %q with status %d", w.Header().Get("Retry-After"), w.Code)
			}
			if tc.logged == "" && logs.Len() > 0 || !strings.Contains(logs.String(), tc.logged) {
				t.Errorf("logged %q, want %q", logs.String(), tc.logged)
			}
		})
	}
}
