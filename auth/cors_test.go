package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestCORS: the embedded routes, and only they, answer pages on the
// allowed origins; preflights stop at CORS, other requests go on.
func TestCORS(t *testing.T) {
	origins, err := NewOriginPolicy("https://tandem.example.com", []string{"https://app.example.com"}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path, origin, preflightFor string
		allow, methods                           string
		reachesNext                              bool
	}{
		{name: "ticket", method: "POST", path: "/api/socket-tickets", origin: "https://app.example.com",
			allow: "https://app.example.com", reachesNext: true},
		{name: "ticket preflight", method: "OPTIONS", path: "/api/socket-tickets", origin: "https://app.example.com", preflightFor: "POST",
			allow: "https://app.example.com", methods: "POST"},
		{name: "ops preflight, id with a slash", method: "OPTIONS", path: "/api/docs/team%2F1/ops", origin: "https://app.example.com", preflightFor: "GET",
			allow: "https://app.example.com", methods: "GET, POST"},
		{name: "ops", method: "GET", path: "/api/docs/a/ops", origin: "https://app.example.com",
			allow: "https://app.example.com", reachesNext: true},
		{name: "me, another origin", method: "GET", path: "/api/me", origin: "https://evil.example.com", reachesNext: true},
		{name: "me preflight, another origin", method: "OPTIONS", path: "/api/me", origin: "https://evil.example.com", preflightFor: "GET"},
		{name: "me, the server's own origin", method: "GET", path: "/api/me", origin: "https://tandem.example.com", reachesNext: true},
		{name: "not embedded", method: "GET", path: "/api/docs", origin: "https://app.example.com", reachesNext: true},
		{name: "not embedded method", method: "OPTIONS", path: "/api/me", origin: "https://app.example.com", preflightFor: "DELETE", reachesNext: true},
		{name: "OPTIONS, not a preflight", method: "OPTIONS", path: "/api/me", origin: "https://app.example.com", reachesNext: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reached := false
			h := NewCORS(origins).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true }))
			req := httptest.NewRequest(tt.method, "https://tandem.example.com"+tt.path, nil)
			req.Header.Set("Origin", tt.origin)
			if tt.preflightFor != "" {
				req.Header.Set("Access-Control-Request-Method", tt.preflightFor)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			got := w.Result().Header
			if reached != tt.reachesNext || got.Get("Access-Control-Allow-Origin") != tt.allow || got.Get("Access-Control-Allow-Methods") != tt.methods {
				t.Errorf("reached next %v, allow-origin %q, methods %q; want %v, %q, %q", reached,
					got.Get("Access-Control-Allow-Origin"), got.Get("Access-Control-Allow-Methods"), tt.reachesNext, tt.allow, tt.methods)
			}
			if !reached && w.Code != http.StatusNoContent {
				t.Errorf("preflight answered %d, want 204", w.Code)
			}
			if got.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("credentials allowed")
			}
		})
	}
}
