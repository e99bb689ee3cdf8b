package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/netip"
	"strings"
	"time"

	"tandem/store"
	"tandem/store/httpapi"
)

// Input limits for accounts.
const (
	MinPasswordLen = 8   // bytes
	MaxPasswordLen = 256 // bytes: argon2 takes any length, but a bound keeps requests small
	MaxEmailLen    = 254
	MaxNameLen     = 100 // code points
	MaxTokenName   = 100 // code points
)

// Register adds the account routes to mux. Routes that change state are
// expected behind cross-origin protection, sessions and Authenticate.
func (s *Service) Register(mux *http.ServeMux) {
	for _, r := range []struct {
		pattern string
		handler http.HandlerFunc
	}{
		{"POST /api/signup", s.handleSignup},
		{"POST /api/login", s.handleLogin},
		{"POST /api/logout", s.handleLogout},
		{"GET /api/me", s.RequireUser(s.handleMe)},
		{"POST /api/tokens", s.RequireUser(s.handleCreateToken)},
		{"GET /api/tokens", s.RequireUser(s.handleListTokens)},
		{"DELETE /api/tokens/{id}", s.RequireUser(s.handleDeleteToken)},
	} {
		mux.HandleFunc(r.pattern, r.handler)
	}
}

// SignupRequest is the body of POST /api/signup.
type SignupRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

// Validate normalises the request and checks every field.
func (req *SignupRequest) Validate() error {
	email, err := ValidateEmail(req.Email)
	if err != nil {
		return err
	}
	name, err := store.ValidateName(req.Name, "name", MaxNameLen)
	if err != nil {
		return err
	}
	if err := ValidatePassword(req.Password); err != nil {
		return err
	}
	req.Email, req.Name = email, name
	return nil
}

// ValidateEmail trims email and checks that it is a plain address.
func ValidateEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	if email == "" || len(email) > MaxEmailLen {
		return "", store.Errorf(store.CodeBadRequest, "email must be 1 to %d bytes", MaxEmailLen)
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		return "", store.Errorf(store.CodeBadRequest, "email %q is not a valid address", email)
	}
	return email, nil
}

// ValidatePassword checks a new password's length.
func ValidatePassword(pw string) error {
	if len(pw) < MinPasswordLen || len(pw) > MaxPasswordLen {
		return store.Errorf(store.CodeBadRequest, "password must be %d to %d bytes", MinPasswordLen, MaxPasswordLen)
	}
	return nil
}

// UserView is a user as the API shows it.
type UserView struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

func viewOf(u store.User) UserView { return UserView{ID: u.ID, Email: u.Email, Name: u.Name} }

type userResponse struct {
	User UserView `json:"user"`
}

func (s *Service) handleSignup(w http.ResponseWriter, r *http.Request) {
	var req SignupRequest
	if err := httpapi.DecodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	if !s.allowAttempt(w, r, "") {
		return
	}
	if err := req.Validate(); err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	u, err := CreateUser(r.Context(), s.store, s.hasher, req)
	if err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	if err := s.startSession(r.Context(), w, u); err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, userResponse{User: viewOf(u)})
}

// CreateUser hashes the password and stores a validated new user; a taken
// email is a conflict. The operator's `tandem user create` uses it too.
func CreateUser(ctx context.Context, st store.Users, h *Hasher, req SignupRequest) (store.User, error) {
	hash, err := h.Hash(ctx, req.Password)
	if err != nil {
		return store.User{}, err
	}
	u, err := st.CreateUser(ctx, store.NewUser{Email: req.Email, Name: req.Name, PasswordHash: hash})
	switch {
	case errors.Is(err, store.ErrConflict):
		return store.User{}, store.Errorf(store.CodeConflict, "email %s is already registered", req.Email)
	case err != nil && !errors.Is(err, store.ErrInvalid):
		return store.User{}, httpapi.Unavailable(err) // the store failed: retry, it is not the input
	}
	return u, err
}

// LoginRequest is the body of POST /api/login.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req LoginRequest
	if err := httpapi.DecodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	if !s.allowAttempt(w, r, store.EmailKey(req.Email)) {
		return
	}
	badLogin := store.Errorf(store.CodeUnauthorized, "wrong email or password")
	if len(req.Password) > MaxPasswordLen {
		httpapi.WriteError(w, r, s.log, badLogin)
		return
	}
	u, err := s.store.UserByEmail(r.Context(), req.Email)
	hash := u.PasswordHash
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			httpapi.WriteError(w, r, s.log, httpapi.Unavailable(err))
			return
		}
		hash = s.dummyHash()
	}
	ok, verr := s.hasher.Verify(r.Context(), hash, req.Password)
	if verr != nil && err == nil {
		httpapi.WriteError(w, r, s.log, verr)
		return
	}
	if err != nil || !ok {
		httpapi.WriteError(w, r, s.log, badLogin)
		return
	}
	if err := s.startSession(r.Context(), w, u); err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, userResponse{User: viewOf(u)})
}

// dummyHash is verified against when the email is unknown, so that a login
// takes as long whether or not the account exists. It is made once, with the
// service's own parameters.
func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() {
		s.dummy, _ = s.hasher.Hash(context.Background(), "not a password anyone has")
	})
	return s.dummy
}

// startSession signs u in with a fresh session token (never the one the
// browser came with: that would allow session fixation), and saves the
// session before the handler answers (see LoadSession). A store failure is
// Unavailable: signup's account then exists but is not signed in, which a
// login fixes.
func (s *Service) startSession(ctx context.Context, w http.ResponseWriter, u store.User) error {
	old := s.sessions.Token(ctx)
	if err := s.sessions.RenewToken(ctx); err != nil {
		return httpapi.Unavailable(fmt.Errorf("renew session token: %w", err))
	}
	if old != "" {
		// The browser's previous session ended here (RenewToken deleted it,
		// whatever happens next): so do its sockets.
		s.revoked(sessionCredential(old))
	}
	s.sessions.Put(ctx, sessionUserKey, u.ID)
	if err := s.saveSession(ctx, w); err != nil {
		return httpapi.Unavailable(err)
	}
	return nil
}

func (s *Service) handleLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	token := s.sessions.Token(ctx)
	if err := s.sessions.Destroy(ctx); err != nil {
		httpapi.WriteError(w, r, s.log, httpapi.Unavailable(fmt.Errorf("destroy session: %w", err)))
		return
	}
	s.setSessionCookie(ctx, w, "", time.Time{})
	if token != "" {
		s.revoked(sessionCredential(token))
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleMe(w http.ResponseWriter, r *http.Request) {
	c, _ := CallerFrom(r.Context())
	httpapi.WriteJSON(w, http.StatusOK, userResponse{User: viewOf(c.User)})
}

// allowAttempt applies the login limits for the client's IP and the account;
// when they are spent it answers 429 with Retry-After and returns false.
func (s *Service) allowAttempt(w http.ResponseWriter, r *http.Request, account string) bool {
	ok, retry := s.limits.allow(addressKey(s.ClientIP(r)), account)
	if !ok {
		httpapi.WriteRateLimited(w, r, s.log, time.Duration(retry)*time.Second, "too many attempts")
	}
	return ok
}

// ClientIP is the address of the request's client: its peer, or, when the
// peer is one of Config.TrustedProxies, the last address in
// X-Forwarded-For that is not (a proxy appends the address it saw, so
// earlier entries are whatever the client claimed). Without trusted proxies
// behind a reverse proxy, every client has the proxy's address and the
// per-IP limits apply to all of them together.
func (s *Service) ClientIP(r *http.Request) string {
	ip := peerIP(r.RemoteAddr)
	if !s.trusted(ip) {
		return ip.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed entry: trust nothing before it
		}
		ip = hop.Unmap()
		if !s.trusted(ip) {
			break
		}
	}
	return ip.String()
}

func (s *Service) trusted(ip netip.Addr) bool { return inPrefixes(s.cfg.TrustedProxies, ip) }

// inPrefixes reports whether ip is in one of prefixes.
func inPrefixes(prefixes []netip.Prefix, ip netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// addressKey is what per-address limits count by: an IPv4 address, or the
// /64 an IPv6 address is in (one subscriber commonly holds a whole /64, so
// counting single IPv6 addresses would limit nothing).
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() {
		return ip
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

// peerIP is the address in a RemoteAddr ("host:port").
func peerIP(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		a, _ := netip.ParseAddr(remote)
		return a
	}
	return ap.Addr().Unmap()
}

// TokenRequest is the body of POST /api/tokens.
type TokenRequest struct {
	Name string `json:"name"`
}

// tokenCreated is a new token with its secret, shown this once.
type tokenCreated struct {
	store.Token
	Secret string `json:"token"`
}

func (s *Service) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	c, _ := CallerFrom(r.Context())
	if c.Token != nil || c.Grants != nil || c.App != nil {
		// A leaked token must not be able to outlive its revocation by
		// minting others: tokens are made by a person, signed in.
		httpapi.WriteError(w, r, s.log, store.Errorf(store.CodeForbidden, "API tokens cannot create API tokens; sign in to create one"))
		return
	}
	var req TokenRequest
	if err := httpapi.DecodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	name, err := store.ValidateName(req.Name, "name", MaxTokenName)
	if err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	secret := newTokenSecret()
	t, err := s.store.CreateToken(r.Context(), store.NewToken{UserID: c.User.ID, Name: name, Hash: hashToken(secret)})
	if err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, tokenCreated{Token: t, Secret: secret})
}

func (s *Service) handleListTokens(w http.ResponseWriter, r *http.Request) {
	c, _ := CallerFrom(r.Context())
	tokens, err := s.store.ListTokens(r.Context(), c.User.ID)
	if err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	if tokens == nil {
		tokens = []store.Token{}
	}
	for i, t := range tokens {
		// Uses are written every few seconds: show the ones noted since.
		if at, ok := s.uses.latest(t.ID); ok && (t.LastUsedAt == nil || at.After(*t.LastUsedAt)) {
			tokens[i].LastUsedAt = &at
		}
	}
	httpapi.WriteJSON(w, http.StatusOK, struct {
		Tokens []store.Token `json:"tokens"`
	}{tokens})
}

func (s *Service) handleDeleteToken(w http.ResponseWriter, r *http.Request) {
	c, _ := CallerFrom(r.Context())
	if err := s.store.DeleteToken(r.Context(), c.User.ID, r.PathValue("id")); err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	s.revoked(tokenCredential(r.PathValue("id")))
	w.WriteHeader(http.StatusNoContent)
}
