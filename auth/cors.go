package auth

import (
	"net/http"
	"strings"
)

// EmbeddedRoutes are the routes a page on another origin calls with a host
// app's token (docs/embedding.md): every REST call @tandem/client makes in
// token mode (frontend/client/rest.js). CORS answers them, and only them,
// for the allowed origins.
var EmbeddedRoutes = []string{
	"POST /api/socket-tickets",
	"GET /api/me",
	"GET /api/docs/{id}/ops",
	"POST /api/docs/{id}/ops",
}

// CORS lets pages on the allowed origins (--allowed-origins, not any
// other) call EmbeddedRoutes with an Authorization header. Credentials are
// not allowed: a page elsewhere sends its token, never a Tandem cookie.
type CORS struct {
	origins *OriginPolicy
	routes  *http.ServeMux // EmbeddedRoutes, matched as the server's mux does
	methods map[string]string
}

// NewCORS returns the CORS policy for origins.
func NewCORS(origins *OriginPolicy) *CORS {
	c := &CORS{origins: origins, routes: http.NewServeMux(), methods: map[string]string{}}
	for _, p := range EmbeddedRoutes {
		c.routes.Handle(p, http.NotFoundHandler())
		method, path, _ := strings.Cut(p, " ")
		if c.methods[path] != "" {
			method = c.methods[path] + ", " + method
		}
		c.methods[path] = method
	}
	return c
}

// route returns the path pattern of the embedded route that method and
// r's path name, or "".
func (c *CORS) route(r *http.Request, method string) string {
	if method != r.Method {
		r = r.Clone(r.Context())
		r.Method = method
	}
	_, pattern := c.routes.Handler(r)
	for _, p := range EmbeddedRoutes {
		if p == pattern {
			_, path, _ := strings.Cut(p, " ")
			return path
		}
	}
	return ""
}

// Handler answers the preflights of EmbeddedRoutes itself (204, with the
// CORS headers for an allowed origin only) and adds
// Access-Control-Allow-Origin to their responses, refusals included, so
// that the page can read why it was refused.
func (c *CORS) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		method := r.Method
		if preflight {
			method = r.Header.Get("Access-Control-Request-Method")
		}
		path := c.route(r, method)
		if path == "" {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Origin")
		if o := r.Header.Get("Origin"); o != "" && c.origins.Allowed(o) {
			w.Header().Set("Access-Control-Allow-Origin", o)
			if preflight {
				w.Header().Set("Access-Control-Allow-Methods", c.methods[path])
				w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
				w.Header().Set("Access-Control-Max-Age", "600")
			}
		}
		if preflight {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
