package auth

import (
	"crypto/tls"
	"net/http"
	"testing"
)

func TestOriginPolicy(t *testing.T) {
	plain, _ := NewOriginPolicy("", []string{"https://Editor.Example.com:443/"}, false, nil)
	behindTLS, _ := NewOriginPolicy("", nil, true, nil)
	public, _ := NewOriginPolicy("https://docs.example.com", nil, false, nil)
	proxies, _ := ParseProxies("10.0.0.0/8")
	proxied, _ := NewOriginPolicy("", nil, false, proxies)
	for _, tc := range []struct {
		name   string
		p      *OriginPolicy
		host   string
		tls    bool
		origin string
		ok     bool
		peer   string // RemoteAddr; default 192.0.2.1:5000
		proto  string // X-Forwarded-Proto
	}{
		{"no origin", plain, "h:8080", false, "", true, "", ""},
		{"own", plain, "h:8080", false, "http://h:8080", true, "", ""},
		{"own, other case", plain, "H:8080", false, "HTTP://h:8080", true, "", ""},
		{"own default port", plain, "h", false, "http://h:80", true, "", ""},
		{"other scheme", plain, "h:8080", false, "https://h:8080", false, "", ""},
		{"ws scheme", plain, "h:8080", false, "ws://h:8080", false, "", ""},
		{"other port", plain, "h:8080", false, "http://h:8081", false, "", ""},
		{"null", plain, "h:8080", false, "null", false, "", ""},
		{"with path", plain, "h:8080", false, "http://h:8080/x", false, "", ""},
		{"with user", plain, "h:8080", false, "http://u@h:8080", false, "", ""},
		{"trusted", plain, "h:8080", false, "https://editor.example.com", true, "", ""},
		{"trusted other scheme", plain, "h:8080", false, "http://editor.example.com", false, "", ""},
		{"under TLS", plain, "h:8443", true, "https://h:8443", true, "", ""},
		{"http under TLS", plain, "h:8443", true, "http://h:8443", false, "", ""},
		{"behind a TLS proxy", behindTLS, "h", false, "https://h", true, "", ""},
		{"http behind a TLS proxy", behindTLS, "h", false, "http://h", false, "", ""},
		{"public URL", public, "10.0.0.5:8080", false, "https://docs.example.com", true, "", ""},
		{"internal address with a public URL", public, "10.0.0.5:8080", false, "http://10.0.0.5:8080", false, "", ""},
		{"https via a trusted proxy", proxied, "h", false, "https://h", true, "10.1.1.1:5000", "https"},
		{"http via a trusted proxy saying https", proxied, "h", false, "http://h", false, "10.1.1.1:5000", "https"},
		{"proxy header from an untrusted peer", proxied, "h", false, "https://h", false, "192.0.2.7:5000", "https"},
		{"several protos, nearest the browser first", proxied, "h", false, "https://h", true, "10.1.1.1:5000", "https, http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest("POST", "http://"+tc.host+"/api/docs", nil)
			r.Host = tc.host
			r.RemoteAddr = "192.0.2.1:5000"
			if tc.peer != "" {
				r.RemoteAddr = tc.peer
			}
			if tc.proto != "" {
				r.Header.Set("X-Forwarded-Proto", tc.proto)
			}
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
		if _, err := NewOriginPolicy(bad, nil, false, nil); err == nil {
			t.Errorf("public URL %q accepted", bad)
		}
	}
}

func TestClientIP(t *testing.T) {
	proxies, err := ParseProxies("10.0.0.0/8, 192.168.1.7")
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{cfg: Config{TrustedProxies: proxies}}
	plain := &Service{}
	for _, tc := range []struct {
		name, remote, xff, want string
		s                       *Service
	}{
		{"direct", "203.0.113.5:4000", "", "203.0.113.5", s},
		{"direct, forged header", "203.0.113.5:4000", "1.1.1.1", "203.0.113.5", s},
		{"through a proxy", "10.1.2.3:4000", "198.51.100.9", "198.51.100.9", s},
		{"through two proxies", "10.1.2.3:4000", "198.51.100.9, 192.168.1.7", "198.51.100.9", s},
		{"client's claim before", "10.1.2.3:4000", "6.6.6.6, 198.51.100.9", "198.51.100.9", s},
		{"malformed hop", "10.1.2.3:4000", "198.51.100.9, junk", "10.1.2.3", s},
		{"no proxies trusted", "10.1.2.3:4000", "198.51.100.9", "10.1.2.3", plain},
		{"IPv6 peer", "[2001:db8::1]:4000", "", "2001:db8::1", s},
	} {
		r, _ := http.NewRequest("POST", "http://h/api/login", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := tc.s.ClientIP(r); got != tc.want {
			t.Errorf("%s: ClientIP = %s, want %s", tc.name, got, tc.want)
		}
	}
	if _, err := ParseProxies("10.0.0.0/8,nonsense"); err == nil {
		t.Error("a bad proxy list was accepted")
	}
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.5":          "203.0.113.5",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"::ffff:203.0.113.5":   "::ffff:203.0.113.5",
		"not an address":       "not an address",
	} {
		if got := addressKey(in); got != want {
			t.Errorf("addressKey(%s) = %s, want %s", in, got, want)
		}
	}
}
