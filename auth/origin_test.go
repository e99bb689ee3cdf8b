package auth

import (
	"crypto/tls"
	"net/http"
	"testing"
)

func TestOriginPolicy(t *testing.T) {
	plain, _ := NewOriginPolicy("", []string{"https://Editor.Example.com:443/"}, false)
	behindTLS, _ := NewOriginPolicy("", nil, true)
	public, _ := NewOriginPolicy("https://docs.example.com", nil, false)
	for _, tc := range []struct {
		name   string
		p      *OriginPolicy
		host   string
		tls    bool
		origin string
		ok     bool
	}{
		{"no origin", plain, "h:8080", false, "", true},
		{"own", plain, "h:8080", false, "http://h:8080", true},
		{"own, other case", plain, "H:8080", false, "HTTP://h:8080", true},
		{"own default port", plain, "h", false, "http://h:80", true},
		{"other scheme", plain, "h:8080", false, "https://h:8080", false},
		{"ws scheme", plain, "h:8080", false, "ws://h:8080", false},
		{"other port", plain, "h:8080", false, "http://h:8081", false},
		{"null", plain, "h:8080", false, "null", false},
		{"with path", plain, "h:8080", false, "http://h:8080/x", false},
		{"with user", plain, "h:8080", false, "http://u@h:8080", false},
		{"trusted", plain, "h:8080", false, "https://editor.example.com", true},
		{"trusted other scheme", plain, "h:8080", false, "http://editor.example.com", false},
		{"under TLS", plain, "h:8443", true, "https://h:8443", true},
		{"http under TLS", plain, "h:8443", true, "http://h:8443", false},
		{"behind a TLS proxy", behindTLS, "h", false, "https://h", true},
		{"http behind a TLS proxy", behindTLS, "h", false, "http://h", false},
		{"public URL", public, "10.0.0.5:8080", false, "https://docs.example.com", true},
		{"internal address with a public URL", public, "10.0.0.5:8080", false, "http://10.0.0.5:8080", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest("POST", "http://"+tc.host+"/api/docs", nil)
			r.Host = tc.host
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if err := tc.p.Check(r); (err == nil) != tc.ok {
				t.Errorf("Check(%q on %s) = %v, want ok=%v", tc.origin, tc.host, err, tc.ok)
			}
		})
	}
	for _, bad := range []string{"docs.example.com", "ftp://x", "https://x/path", "https://"} {
		if _, err := NewOriginPolicy(bad, nil, false); err == nil {
			t.Errorf("public URL %q accepted", bad)
		}
	}
}
