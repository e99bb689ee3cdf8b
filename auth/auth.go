// Package auth is who the caller is and what they may do: accounts with
// argon2id passwords, browser sessions (scs v2, kept in the store), API tokens
// for programs, the middleware that puts the caller in the request context,
// per-document role checks that REST and the socket share, login rate limits,
// per-user rate limiters, browser origin checks, and the account REST
// handlers. Its handlers speak JSON through store/httpapi, as collab's do.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"

	"tandem/store"
	"tandem/store/httpapi"
)

// Service authenticates callers and serves the account routes.
type Service struct {
	store    store.Store
	sessions *scs.SessionManager
	hasher   *Hasher
	limits   *loginLimits
	log      *slog.Logger
	cfg      Config

	dummyOnce sync.Once
	dummy     string

	uses *tokenUses // last use of API tokens, written in batches

	onRevoke []func(credential string)

	now    func() time.Time // the clock app tokens and tickets are checked on
	admins map[string]bool  // user ids of the server's admins (SetAdmins)
}

// OnRevoke registers fn to be called with a Caller.Credential when it stops
// being valid: its session signed out, or its API token was revoked. Call
// it before serving.
func (s *Service) OnRevoke(fn func(credential string)) {
	s.onRevoke = append(s.onRevoke, fn)
}

func (s *Service) revoked(credential string) {
	for _, fn := range s.onRevoke {
		fn(credential)
	}
}

// Config tunes a Service. Start from DefaultConfig; Validate checks it.
type Config struct {
	// MaxBodyBytes bounds a JSON request body: the account routes', and
	// (see collab.Config) the document routes' other than content.
	MaxBodyBytes int64
	// LoginPerIP and LoginPerAccount are the login and signup attempts
	// allowed per minute, each with an equal burst.
	LoginPerIP, LoginPerAccount int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client (see Service.ClientIP).
	TrustedProxies []netip.Prefix
	// TokenUseFlush is how often the last use of API tokens is written.
	TokenUseFlush time.Duration
	// MaxAppTokenLifetime is the longest an app's JWT may live: exp at most
	// this far from now (and from iat, if given).
	MaxAppTokenLifetime time.Duration
	// TicketTTL is how long a socket ticket may wait to be used.
	TicketTTL time.Duration
}

// DefaultConfig returns the defaults: what serve's flags start from.
func DefaultConfig() Config {
	return Config{MaxBodyBytes: 16 << 10, LoginPerIP: 20, LoginPerAccount: 10, TokenUseFlush: 5 * time.Second,
		MaxAppTokenLifetime: time.Hour, TicketTTL: 10 * time.Second}
}

// Validate checks that every limit is positive. Its errors name each
// setting by its serve flag.
func (c Config) Validate() error {
	switch {
	case c.MaxBodyBytes <= 0:
		return errors.New("--max-body-bytes must be positive")
	case c.LoginPerIP <= 0:
		return errors.New("--login-rate-ip must be positive")
	case c.LoginPerAccount <= 0:
		return errors.New("--login-rate-account must be positive")
	case c.TokenUseFlush <= 0:
		return errors.New("the token use flush period must be positive")
	case c.MaxAppTokenLifetime <= 0:
		return errors.New("--max-app-token-lifetime must be positive")
	case c.TicketTTL <= 0 || c.TicketTTL > time.Minute:
		return errors.New("--socket-ticket-ttl must be positive and at most a minute")
	}
	return nil
}

// ParseProxies reads a comma-separated list of addresses and CIDR prefixes.
func ParseProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR prefix", item)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// New returns a Service on st that keeps sessions in sessions, or an error
// if cfg is not valid. It starts the goroutine that records API token use:
// call Close when done.
func New(st store.Store, sessions *scs.SessionManager, hasher *Hasher, cfg Config, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Service{
		store:    st,
		sessions: sessions,
		hasher:   hasher,
		limits:   newLoginLimits(cfg.LoginPerIP, cfg.LoginPerAccount, time.Now),
		log:      log,
		cfg:      cfg,
		uses:     newTokenUses(st, log, cfg.TokenUseFlush),
		now:      time.Now,
	}, nil
}

// Close writes the API token uses not yet recorded and stops recording.
// Call it before closing the store.
func (s *Service) Close() { s.uses.close() }

// Sessions returns the session manager; LoadSession (not its LoadAndSave)
// must wrap every route that uses sessions.
func (s *Service) Sessions() *scs.SessionManager { return s.sessions }

// sessionUserKey is the session field that holds the signed-in user's id.
const sessionUserKey = "user_id"

type contextKey struct{}

// Caller is who made a request.
type Caller struct {
	User store.User
	// Token is the API token used, or nil for a browser session.
	Token *store.Token
	// Grants, for the user of a host app who sent the app's JWT (or its
	// socket ticket), are what the token allows; nil otherwise. Such a
	// caller is authorized by them alone (AuthorizeCaller).
	Grants *Grants
	// App is the host app that sent its own credentials, "<id>:<secret>";
	// User is then the app's account. Nil otherwise.
	App *store.App
	// Credential names the session or API token that authenticated the
	// caller (never its secret), so that what it opened, such as sockets,
	// can be closed when it is revoked (see Service.OnRevoke).
	Credential string
}

// sessionCredential names a session by a hash of its token.
func sessionCredential(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "session:" + hex.EncodeToString(sum[:16])
}

// tokenCredential names an API token by its id.
func tokenCredential(id string) string { return "token:" + id }

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, contextKey{}, c)
}

// CallerFrom returns the caller that Authenticate found, if any.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(contextKey{}).(Caller)
	return c, ok
}

// Authenticate finds the caller, from an "Authorization: Bearer" API
// token, host app token or app credentials (apps.go), or the session cookie, and puts them in the request context. It does not
// refuse anonymous requests (RequireUser does), but it does refuse a bearer
// token that is malformed, unknown or revoked (401). A store that fails
// while looking the caller up is not a verdict on the credential: that is
// 503 with Retry-After (see Unavailable), so that clients retry instead of
// signing out.
func (s *Service) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if h := r.Header.Get("Authorization"); h != "" {
			secret, ok := strings.CutPrefix(h, "Bearer ")
			if !ok {
				httpapi.WriteError(w, r, s.log, store.Errorf(store.CodeUnauthorized, "the Authorization header must be \"Bearer <token>\""))
				return
			}
			c, err := s.bearerCaller(ctx, strings.TrimSpace(secret))
			if err != nil {
				httpapi.WriteError(w, r, s.log, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithCaller(ctx, c)))
			return
		}
		if id := s.sessions.GetString(ctx, sessionUserKey); id != "" {
			u, err := s.store.User(ctx, id)
			switch {
			case err == nil:
				c := Caller{User: u, Credential: sessionCredential(s.sessions.Token(ctx))}
				next.ServeHTTP(w, r.WithContext(WithCaller(ctx, c)))
				return
			case !errors.Is(err, store.ErrNotFound):
				httpapi.WriteError(w, r, s.log, httpapi.Unavailable(fmt.Errorf("look up the session's user: %w", err)))
				return
			}
			// A session whose user is gone is no session.
			s.log.WarnContext(ctx, "session for a missing user", "user", id)
		}
		next.ServeHTTP(w, r)
	})
}

// tokenCaller finds who holds the API token secret. Only a token that is
// not there (never made, or revoked) or whose user is gone is refused as
// unauthorized; any other error is the store's, and Unavailable.
func (s *Service) tokenCaller(ctx context.Context, secret string) (Caller, error) {
	invalid := store.Errorf(store.CodeUnauthorized, "invalid or revoked API token")
	if !strings.HasPrefix(secret, tokenPrefix) {
		return Caller{}, store.Errorf(store.CodeUnauthorized, "invalid API token")
	}
	t, err := s.store.TokenByHash(ctx, hashToken(secret))
	if errors.Is(err, store.ErrNotFound) {
		return Caller{}, invalid
	}
	if err != nil {
		return Caller{}, httpapi.Unavailable(fmt.Errorf("look up API token: %w", err))
	}
	u, err := s.store.User(ctx, t.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return Caller{}, invalid
	}
	if err != nil {
		return Caller{}, httpapi.Unavailable(fmt.Errorf("look up API token's user: %w", err))
	}
	s.uses.note(t.ID, time.Now())
	return Caller{User: u, Token: &t, Credential: tokenCredential(t.ID)}, nil
}

// RequireUser serves h only to a signed-in caller; others get 401.
func (s *Service) RequireUser(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := CallerFrom(r.Context()); !ok {
			httpapi.WriteError(w, r, s.log, store.Errorf(store.CodeUnauthorized, "sign in or send an API token"))
			return
		}
		h(w, r)
	}
}

// tokenPrefix starts every API token, so that leaked tokens are easy to
// recognise (and to scan for).
const tokenPrefix = "tdm_"

// newTokenSecret returns a fresh API token: the prefix and 256 random bits.
func newTokenSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// hashToken is the digest stored for a token. The secret has 256 random
// bits, so a fast hash is as safe as a slow one and keeps lookups cheap.
func hashToken(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// SessionConfig tunes browser sessions.
type SessionConfig struct {
	Lifetime    time.Duration // absolute: sign in again after this
	IdleTimeout time.Duration // sign in again after this long unused
	Secure      bool          // cookie only over HTTPS (set under TLS)
}

// NewSessionManager returns scs sessions kept in st (the store's sessions
// table), with a cookie that is HttpOnly, SameSite=Lax, and Secure if asked.
func NewSessionManager(st scs.Store, cfg SessionConfig) *scs.SessionManager {
	sm := scs.New()
	sm.Store = st
	sm.Lifetime = cfg.Lifetime
	sm.IdleTimeout = cfg.IdleTimeout
	sm.Cookie.Name = "tandem_session"
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = cfg.Secure
	sm.Cookie.Path = "/"
	return sm
}
