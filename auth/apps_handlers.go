package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"tandem/store"
	"tandem/store/httpapi"
)

// appSecretPrefix starts every app secret, so that leaked ones are easy to
// recognise.
const appSecretPrefix = "tdms_"

// SetAdmins makes the accounts with these emails the server's admins, who
// manage host apps over REST. Each must exist: an address nobody holds
// yet would make whoever signs up with it first an admin.
func (s *Service) SetAdmins(ctx context.Context, emails []string) error {
	admins := make(map[string]bool, len(emails))
	for _, e := range emails {
		u, err := s.store.UserByEmail(ctx, e)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("--admins: no account has the email %q (create it first: tandem user create)", e)
		}
		if err != nil {
			return fmt.Errorf("--admins: look up %q: %w", e, err)
		}
		admins[u.ID] = true
	}
	s.admins = admins
	return nil
}

// RequireAdmin serves h only to a server admin signed in or with an API
// token of theirs (not an app or its users); others get 403.
func (s *Service) RequireAdmin(h http.HandlerFunc) http.HandlerFunc {
	return s.RequireUser(func(w http.ResponseWriter, r *http.Request) {
		c, _ := CallerFrom(r.Context())
		if c.Grants != nil || c.App != nil || !s.admins[c.User.ID] {
			httpapi.WriteError(w, r, s.log, store.Errorf(store.CodeForbidden, "only the server's admins (--admins) manage apps"))
			return
		}
		h(w, r)
	})
}

// RegisterApps adds the host app routes to mux: the admins' /api/apps and
// the socket tickets (whose CORS is CORS's, with the other EmbeddedRoutes).
func (s *Service) RegisterApps(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/apps", s.RequireAdmin(s.handleCreateApp))
	mux.HandleFunc("GET /api/apps", s.RequireAdmin(s.handleListApps))
	mux.HandleFunc("DELETE /api/apps/{id}", s.RequireAdmin(s.handleRevokeApp))
	mux.HandleFunc("POST /api/socket-tickets", s.RequireUser(s.handleTicket))
}

// AppRequest is the body of POST /api/apps.
type AppRequest struct {
	Name      string `json:"name"`
	PublicKey string `json:"public_key,omitempty"`
}

// AppCreated is an app as created: the secret is shown this once.
type AppCreated struct {
	App    store.App `json:"app"`
	Secret string    `json:"secret"`
}

// CreateApp registers an app with a fresh secret, after checking its name
// and optional Ed25519 public key (base64 of 32 bytes). The operator's
// `tandem app create` uses it too.
func CreateApp(ctx context.Context, st store.Apps, req AppRequest) (AppCreated, error) {
	name, err := store.ValidateName(req.Name, "name", MaxAppName)
	if err != nil {
		return AppCreated{}, err
	}
	if req.PublicKey != "" {
		key, err := base64.StdEncoding.DecodeString(req.PublicKey)
		if err != nil || len(key) != ed25519.PublicKeySize {
			return AppCreated{}, store.Errorf(store.CodeBadRequest, "public_key must be an Ed25519 public key: base64 of %d bytes", ed25519.PublicKeySize)
		}
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret := appSecretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	app, err := st.CreateApp(ctx, store.NewApp{Name: name, Secret: secret, PublicKey: req.PublicKey})
	if err != nil {
		return AppCreated{}, fmt.Errorf("create app: %w", err)
	}
	return AppCreated{App: app, Secret: secret}, nil
}

func (s *Service) handleCreateApp(w http.ResponseWriter, r *http.Request) {
	var req AppRequest
	if err := httpapi.DecodeJSON(w, r, s.cfg.MaxBodyBytes, &req); err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	created, err := CreateApp(r.Context(), s.store, req)
	if err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, created)
}

func (s *Service) handleListApps(w http.ResponseWriter, r *http.Request) {
	apps, err := s.store.ListApps(r.Context())
	if err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	if apps == nil {
		apps = []store.App{}
	}
	httpapi.WriteJSON(w, http.StatusOK, struct {
		Apps []store.App `json:"apps"`
	}{apps})
}

func (s *Service) handleRevokeApp(w http.ResponseWriter, r *http.Request) {
	if err := s.RevokeApp(r.Context(), r.PathValue("id")); err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// RevokeApp revokes an app: its tokens and credentials stop working at
// once, and the sockets they opened are closed (OnRevoke).
func (s *Service) RevokeApp(ctx context.Context, id string) error {
	if err := s.store.RevokeApp(ctx, id); err != nil {
		return fmt.Errorf("revoke app: %w", err)
	}
	s.revoked(appCredential(id))
	return nil
}

// TicketView is a socket ticket as POST /api/socket-tickets returns it.
type TicketView struct {
	Ticket    string    `json:"ticket"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Service) handleTicket(w http.ResponseWriter, r *http.Request) {
	c, _ := CallerFrom(r.Context())
	if c.Grants == nil {
		httpapi.WriteError(w, r, s.log, store.Errorf(store.CodeForbidden, "socket tickets are for host apps' tokens: send one as Authorization: Bearer"))
		return
	}
	raw, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	secret, expires, err := s.issueTicket(r.Context(), c, raw)
	if err != nil {
		httpapi.WriteError(w, r, s.log, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, TicketView{Ticket: secret, ExpiresAt: expires.UTC()})
}

// ParseAdmins reads a comma-separated list of emails.
func ParseAdmins(list string) []string {
	var out []string
	for e := range strings.SplitSeq(list, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}
