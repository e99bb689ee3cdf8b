package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"tandem/store"
	"tandem/store/httpapi"
)

// Host apps (docs/security.md, "Host apps"): an app's server signs short
// JWTs for its own users, naming the documents and roles they get. This
// file verifies them and turns them into a Caller with Grants.

// The limits on an app's tokens.
const (
	// JWTLeeway is the clock skew allowed on exp, nbf and iat.
	JWTLeeway = 10 * time.Second
	// MaxJWTGrants bounds the entries of a token's docs claim.
	MaxJWTGrants = 256
	// MaxAppName bounds an app's name, and a token's user name.
	MaxAppName = 100
)

// jwtMethods are the algorithms an app's token may use, pinned: HS256 with
// the app's secret, or EdDSA with its registered Ed25519 public key. Any
// other (none, RS256, HS512, ...) is refused before a key is chosen.
var jwtMethods = []string{jwt.SigningMethodHS256.Alg(), jwt.SigningMethodEdDSA.Alg()}

// appClaims are the claims of an app's token: iss is the app's id, sub its
// user, exp required; name, color and docs are Tandem's.
type appClaims struct {
	jwt.RegisteredClaims
	Name  string            `json:"name,omitempty"`
	Color string            `json:"color,omitempty"`
	Docs  map[string]string `json:"docs"`
}

// Grants are the roles a host app's token gives its user, per document.
// A grant never exceeds what the app's own account (AppUserID) may do on
// that document, and a user holding Grants is authorized by them alone,
// never by memberships.
type Grants struct {
	AppID     string
	AppUserID string    // the app's account: owner of the app's documents
	Expires   time.Time // the token's exp: sockets close then
	Color     string    // the token's color, "" for the default
	exact     map[string]store.Role
	prefixes  []prefixGrant // longest first
}

type prefixGrant struct {
	prefix string
	role   store.Role
}

// Role returns the role the token grants on docID: an exact entry, else
// the longest matching prefix ("team-42/*"); false if none.
func (g *Grants) Role(docID string) (store.Role, bool) {
	if r, ok := g.exact[docID]; ok {
		return r, true
	}
	for _, p := range g.prefixes {
		if strings.HasPrefix(docID, p.prefix) {
			return p.role, true
		}
	}
	return "", false
}

// Effective is the role on docID of a user whose app's account has
// appRole there: the token's grant, capped by appRole. False if the token
// grants nothing there or the app's account has no role.
func (g *Grants) Effective(docID string, appRole store.Role) (store.Role, bool) {
	granted, ok := g.Role(docID)
	if !ok || !appRole.Valid() {
		return "", false
	}
	if rank(appRole) < rank(granted) {
		return appRole, true
	}
	return granted, true
}

func rank(r store.Role) int {
	switch r {
	case store.RoleOwner:
		return 3
	case store.RoleEditor:
		return 2
	case store.RoleViewer:
		return 1
	}
	return 0
}

// parseGrants reads a docs claim: keys are document ids, or prefixes
// ending in a single "*"; roles are viewer or editor (an app's user never
// manages a document: the app does, with its own credentials).
func parseGrants(docs map[string]string) (exact map[string]store.Role, prefixes []prefixGrant, err error) {
	if len(docs) > MaxJWTGrants {
		return nil, nil, fmt.Errorf("docs has %d entries, more than %d", len(docs), MaxJWTGrants)
	}
	exact = make(map[string]store.Role, len(docs))
	for key, r := range docs {
		role := store.Role(r)
		if role != store.RoleViewer && role != store.RoleEditor {
			return nil, nil, fmt.Errorf("docs[%.64q]: role must be viewer or editor", key)
		}
		prefix, wild := strings.CutSuffix(key, "*")
		if strings.Contains(prefix, "*") || (!wild && key == "") || !store.Storable(key) {
			return nil, nil, fmt.Errorf("docs[%.64q]: not a document id or a prefix ending in *", key)
		}
		if wild {
			prefixes = append(prefixes, prefixGrant{prefix, role})
		} else {
			exact[key] = role
		}
	}
	sort.Slice(prefixes, func(i, j int) bool { return len(prefixes[i].prefix) > len(prefixes[j].prefix) })
	return exact, prefixes, nil
}

var colorPattern = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// appCredential names an app as a Caller.Credential: revoking the app
// closes every socket its tokens opened.
func appCredential(appID string) string { return "app:" + appID }

// AppCredential is what the sockets an app's tokens opened are known by
// (Caller.Credential): a process that revokes the app without this
// Service (the CLI) tells the servers to close them with it.
func AppCredential(appID string) string { return appCredential(appID) }

// looksLikeJWT reports whether a bearer value has a JWT's three parts.
func looksLikeJWT(s string) bool { return strings.Count(s, ".") == 2 }

// errStoreFailed carries a store failure out of the key function, so that
// it is answered 503 and not as a bad token.
type errStoreFailed struct{ err error }

func (e errStoreFailed) Error() string { return e.err.Error() }
func (e errStoreFailed) Unwrap() error { return e.err }

// jwtCaller verifies an app's token and returns its user as a Caller with
// Grants. Every failure of the token itself is 401 with the reason; a
// store failure is 503.
func (s *Service) jwtCaller(ctx context.Context, raw string) (Caller, error) {
	var claims appClaims
	var app store.App
	parser := jwt.NewParser(jwt.WithValidMethods(jwtMethods), jwt.WithExpirationRequired(),
		jwt.WithLeeway(JWTLeeway), jwt.WithIssuedAt(), jwt.WithTimeFunc(s.now))
	_, err := parser.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		a, err := s.store.App(ctx, claims.Issuer)
		if errors.Is(err, store.ErrNotFound) {
			return nil, errors.New("iss names no app (or a revoked one)")
		}
		if err != nil {
			return nil, errStoreFailed{err}
		}
		app = a
		return appKey(a, t.Method.Alg())
	})
	var failed errStoreFailed
	if errors.As(err, &failed) {
		return Caller{}, httpapi.Unavailable(fmt.Errorf("look up the token's app: %w", failed.err))
	}
	if err != nil {
		return Caller{}, store.Errorf(store.CodeUnauthorized, "invalid app token: %v", err)
	}
	g, name, err := s.checkClaims(claims, app)
	if err != nil {
		return Caller{}, store.Errorf(store.CodeUnauthorized, "invalid app token: %v", err)
	}
	u, err := s.store.AppUser(ctx, app.ID, claims.Subject, name)
	if errors.Is(err, store.ErrNotFound) {
		return Caller{}, store.Errorf(store.CodeUnauthorized, "invalid app token: the app is gone")
	}
	if err != nil {
		return Caller{}, httpapi.Unavailable(fmt.Errorf("find the token's user: %w", err))
	}
	return Caller{User: u, Grants: g, Credential: appCredential(app.ID)}, nil
}

// appKey is the key that checks a token of alg from app.
func appKey(app store.App, alg string) (any, error) {
	switch alg {
	case jwt.SigningMethodHS256.Alg():
		return []byte(app.Secret), nil
	case jwt.SigningMethodEdDSA.Alg():
		if app.PublicKey == "" {
			return nil, errors.New("the app has no EdDSA public key")
		}
		key, err := base64.StdEncoding.DecodeString(app.PublicKey)
		if err != nil || len(key) != ed25519.PublicKeySize {
			return nil, errors.New("the app's public key is not an Ed25519 key")
		}
		return ed25519.PublicKey(key), nil
	}
	return nil, fmt.Errorf("algorithm %s is not accepted", alg)
}

// checkClaims checks what the JWT library does not: the lifetime cap, sub,
// name, color and docs; it returns the grants and the user's name.
func (s *Service) checkClaims(c appClaims, app store.App) (*Grants, string, error) {
	now := s.now()
	exp := c.ExpiresAt.Time
	if exp.Sub(now) > s.cfg.MaxAppTokenLifetime+JWTLeeway {
		return nil, "", fmt.Errorf("exp is more than %s away", s.cfg.MaxAppTokenLifetime)
	}
	if c.IssuedAt != nil && exp.Sub(c.IssuedAt.Time) > s.cfg.MaxAppTokenLifetime {
		return nil, "", fmt.Errorf("the token lives longer than %s", s.cfg.MaxAppTokenLifetime)
	}
	if c.Subject == "" || len(c.Subject) > store.MaxSubjectLen || !store.Storable(c.Subject) {
		return nil, "", fmt.Errorf("sub must be 1 to %d bytes of text", store.MaxSubjectLen)
	}
	name := c.Name
	if name == "" {
		name = c.Subject
	}
	name, err := store.ValidateName(name, "name", MaxAppName)
	if err != nil {
		return nil, "", err
	}
	if c.Color != "" && !colorPattern.MatchString(c.Color) {
		return nil, "", errors.New("color must be #rrggbb")
	}
	if c.Docs == nil {
		return nil, "", errors.New("docs is required")
	}
	exact, prefixes, err := parseGrants(c.Docs)
	if err != nil {
		return nil, "", err
	}
	return &Grants{AppID: app.ID, AppUserID: app.UserID, Expires: exp, Color: strings.ToLower(c.Color),
		exact: exact, prefixes: prefixes}, name, nil
}

// appCaller checks an app's own credentials, "<app-id>:<secret>", and
// returns the app's account as the caller, with App set.
func (s *Service) appCaller(ctx context.Context, cred string) (Caller, error) {
	invalid := store.Errorf(store.CodeUnauthorized, "invalid or revoked app credentials")
	id, secret, _ := strings.Cut(cred, ":")
	app, err := s.store.App(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Caller{}, invalid
	}
	if err != nil {
		return Caller{}, httpapi.Unavailable(fmt.Errorf("look up app: %w", err))
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(app.Secret)) != 1 {
		return Caller{}, invalid
	}
	u, err := s.store.User(ctx, app.UserID)
	if err != nil {
		return Caller{}, httpapi.Unavailable(fmt.Errorf("look up the app's account: %w", err))
	}
	return Caller{User: u, App: &app, Credential: appCredential(app.ID)}, nil
}

// bearerCaller finds who a bearer credential names: an API token (tdm_…),
// an app's token (a JWT), or an app's own credentials (id:secret).
func (s *Service) bearerCaller(ctx context.Context, secret string) (Caller, error) {
	switch {
	case strings.HasPrefix(secret, tokenPrefix):
		return s.tokenCaller(ctx, secret)
	case looksLikeJWT(secret):
		return s.jwtCaller(ctx, secret)
	case strings.Contains(secret, ":"):
		return s.appCaller(ctx, secret)
	}
	return Caller{}, store.Errorf(store.CodeUnauthorized, "invalid API token")
}

// AuthorizeCaller is Authorize for a caller: one holding an app token's
// Grants is authorized by them (capped by the app's account's role),
// others by their memberships.
func AuthorizeCaller(ctx context.Context, members store.Members, docID string, c Caller, need Need) (store.Role, error) {
	return AuthorizeGranted(ctx, members, docID, c.User.ID, c.Grants, need)
}

// AuthorizeGranted is Authorize for userID, or, when g is not nil, for
// the holder of an app token with grants g. A document the token does not
// name, or that the app's account has no role on, is not_found, as for a
// stranger.
func AuthorizeGranted(ctx context.Context, members store.Members, docID, userID string, g *Grants, need Need) (store.Role, error) {
	if g == nil {
		return Authorize(ctx, members, docID, userID, need)
	}
	notFound := store.Errorf(store.CodeNotFound, "no document %s", docID)
	if _, ok := g.Role(docID); !ok || !store.Storable(docID) {
		return "", notFound
	}
	appRole, err := members.Role(ctx, docID, g.AppUserID)
	if errors.Is(err, store.ErrNotFound) {
		return "", notFound
	}
	if err != nil {
		return "", fmt.Errorf("authorize: %w", err)
	}
	role, _ := g.Effective(docID, appRole)
	if !Allows(role, need) {
		return role, store.Errorf(store.CodeForbidden, "a %s may not %s this document", role, need)
	}
	return role, nil
}
