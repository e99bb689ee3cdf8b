package auth

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"tandem/store"
)

// OriginPolicy decides which browser origins may use the API: the server's
// own, and those it was told to trust. An origin is scheme, host and port
// together, so https://host:8080 is not http://host:8080: a page served
// over another scheme is another site (and, with TLS stripped, an
// attacker's).
type OriginPolicy struct {
	public  string          // the server's own origin if configured, else ""
	tls     bool            // without public: browsers reach us over https
	trusted map[string]bool // normalised allowed origins
	proxies []netip.Prefix  // whose X-Forwarded-Proto tells the scheme
}

// NewOriginPolicy returns the policy for a server whose browsers use
// publicURL (empty: the request's Host, and the scheme it arrived on, or
// https when assumeTLS is set or a trusted proxy says X-Forwarded-Proto:
// https), and that also trusts the allowed origins (scheme://host[:port]
// each).
func NewOriginPolicy(publicURL string, allowed []string, assumeTLS bool, proxies []netip.Prefix) (*OriginPolicy, error) {
	p := &OriginPolicy{tls: assumeTLS, trusted: make(map[string]bool), proxies: proxies}
	if publicURL != "" {
		o, err := normalOrigin(publicURL)
		if err != nil {
			return nil, fmt.Errorf("public URL: %w", err)
		}
		p.public = o
	}
	for _, a := range allowed {
		o, err := normalOrigin(a)
		if err != nil {
			return nil, fmt.Errorf("allowed origin: %w", err)
		}
		p.trusted[o] = true
	}
	return p, nil
}

// Trusted lists the origins trusted besides the request's own: the public
// URL's and the allowed ones.
func (p *OriginPolicy) Trusted() []string {
	var out []string
	if p.public != "" {
		out = append(out, p.public)
	}
	for o := range p.trusted {
		out = append(out, o)
	}
	return out
}

// Check returns nil if r carries no Origin (programs do not) or one the
// policy accepts, else a forbidden *store.Error.
func (p *OriginPolicy) Check(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	o, err := normalOrigin(origin)
	if err == nil && (o == p.own(r) || p.trusted[o]) {
		return nil
	}
	return store.Errorf(store.CodeForbidden, "origin %.100q may not use this server", origin)
}

// Protect refuses state-changing requests (all but GET, HEAD and OPTIONS)
// whose Origin the policy does not accept, before next sees them. It
// completes http.CrossOriginProtection, which compares an Origin's host
// with Host but not its scheme.
func (p *OriginPolicy) Protect(next http.Handler, refuse func(http.ResponseWriter, *http.Request, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			if err := p.Check(r); err != nil {
				refuse(w, r, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// own is the server's origin as the browser that sent r sees it.
func (p *OriginPolicy) own(r *http.Request) string {
	if p.public != "" {
		return p.public
	}
	scheme := "http"
	if r.TLS != nil || p.tls || p.forwardedHTTPS(r) {
		scheme = "https"
	}
	o, err := normalOrigin(scheme + "://" + r.Host)
	if err != nil {
		return ""
	}
	return o
}

// forwardedHTTPS reports whether a trusted proxy says the browser came over
// https (the first X-Forwarded-Proto entry: the proxy nearest the browser).
func (p *OriginPolicy) forwardedHTTPS(r *http.Request) bool {
	if !inPrefixes(p.proxies, peerIP(r.RemoteAddr)) {
		return false
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// normalOrigin returns s as scheme://host[:port] in lower case, without a
// default port, or an error if s is not an http(s) origin.
func normalOrigin(s string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(s, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%.100q is not an origin: want http://host[:port] or https://host[:port]", s)
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}

// Allowed reports whether origin is one of --allowed-origins (not the
// server's own: a page there needs no CORS).
func (p *OriginPolicy) Allowed(origin string) bool {
	o, err := normalOrigin(origin)
	return err == nil && p.trusted[o]
}
