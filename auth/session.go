package auth

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"
	"tandem/store/httpapi"
)

// LoadSession is the session middleware. It replaces scs's LoadAndSave,
// which reads the session before the handler and writes it back in its
// response writer, on the handler's first WriteHeader or Write: after the
// handler has done its work. A failed write there was answered with a
// plain-text 500, and the handler's own status and body then followed it
// ("superfluous WriteHeader"), so a client could be told 500 for an edit
// that happened. Here every session write happens before the response is
// begun:
//
//   - loading the session, and moving an existing session's idle deadline
//     (with an idle timeout every request rewrites it), happen before the
//     handler runs; if the store fails, the request is answered 503
//     "unavailable" with Retry-After and the handler never runs;
//   - a handler that changes the session saves it itself before it answers
//     (startSession, handleLogout), so that a failure is its clean 503.
//
// Nothing is written after the handler.
func (s *Service) LoadSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Cookie")
		var token string
		if c, err := r.Cookie(s.sessions.Cookie.Name); err == nil {
			token = c.Value
		}
		ctx, err := s.sessions.Load(r.Context(), token)
		if err != nil {
			httpapi.WriteUnavailable(w, r, s.log, fmt.Errorf("load session: %w", err))
			return
		}
		// A stored session comes back Modified when it has an idle timeout:
		// its new deadline is written now, not after the handler.
		if s.sessions.Token(ctx) != "" && s.sessions.Status(ctx) == scs.Modified {
			if err := s.saveSession(ctx, w); err != nil {
				httpapi.WriteUnavailable(w, r, s.log, err)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// saveSession writes the session in ctx to the store and sets its cookie.
func (s *Service) saveSession(ctx context.Context, w http.ResponseWriter) error {
	token, expiry, err := s.sessions.Commit(ctx)
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	s.setSessionCookie(ctx, w, token, expiry)
	return nil
}

// setSessionCookie sets the session cookie to token (or deletes it, for an
// empty token), replacing one set earlier in the same response (by the
// idle refresh) so that the response carries one.
func (s *Service) setSessionCookie(ctx context.Context, w http.ResponseWriter, token string, expiry time.Time) {
	h := w.Header()
	prefix := s.sessions.Cookie.Name + "="
	kept := h["Set-Cookie"][:0]
	for _, c := range h["Set-Cookie"] {
		if !strings.HasPrefix(c, prefix) {
			kept = append(kept, c)
		}
	}
	if len(kept) == 0 {
		h.Del("Set-Cookie")
	} else {
		h["Set-Cookie"] = kept
	}
	s.sessions.WriteSessionCookie(ctx, w, token, expiry)
}
