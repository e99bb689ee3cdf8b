package collab

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"tandem/auth"
	"tandem/store"
	"tandem/store/httpapi"
)

// DocsAPI serves the document REST routes and the socket.
type DocsAPI struct {
	store store.Store
	auth  *auth.Service
	hub   *Hub
	cfg   Config // the hub's
	log   *slog.Logger
	// memberChanges limits sharing and membership changes per user.
	memberChanges *auth.UserLimiter
	// submits limits POST .../ops per user, at a socket's op rate.
	submits *auth.UserLimiter
}

// NewDocsAPI returns the document API on st, whose edits and membership
// changes go through hub, with the hub's Config.
func NewDocsAPI(st store.Store, a *auth.Service, hub *Hub, log *slog.Logger) *DocsAPI {
	cfg := hub.cfg
	perMin := cfg.MemberChangesPerMinute
	return &DocsAPI{store: st, auth: a, hub: hub, cfg: cfg, log: log,
		memberChanges: auth.NewUserLimiter(rate.Limit(float64(perMin)/60), perMin, "too many changes", log),
		submits:       auth.NewUserLimiter(rate.Limit(cfg.OpsPerSecond), cfg.OpsBurst, "too many ops", log)}
}

// maxBody bounds a request body: the limit every JSON route has, the Auth
// part of Config.
func (api *DocsAPI) maxBody() int64 { return api.cfg.Auth.MaxBodyBytes }

// maxTextBody bounds a body that carries a document's text (content, an
// op): maxBody and twice MaxDocBytes, for JSON escaping.
func (api *DocsAPI) maxTextBody() int64 { return api.maxBody() + 2*int64(api.cfg.MaxDocBytes) }

// Register adds the document routes to mux.
func (api *DocsAPI) Register(mux *http.ServeMux) {
	for _, r := range []struct {
		pattern string
		handler http.HandlerFunc
	}{
		{"POST /api/docs", api.handleCreate},
		{"GET /api/docs", api.handleList},
		{"GET /api/docs/{id}", api.handleGet},
		{"PATCH /api/docs/{id}", api.handleRename},
		{"DELETE /api/docs/{id}", api.handleDelete},
		{"GET /api/docs/{id}/content", api.handleContent},
		{"GET /api/docs/{id}/ops", api.handleOps},
		{"POST /api/docs/{id}/ops", api.submits.Limit(api.handleSubmit)},
		{"GET /api/docs/{id}/timeline", api.handleTimeline},
		{"GET /api/docs/{id}/blame", api.handleBlame},
		{"GET /api/docs/{id}/export", api.handleExport},
		{"GET /api/docs/{id}/versions", api.handleVersions},
		{"POST /api/docs/{id}/versions", api.handleSaveVersion},
		{"DELETE /api/docs/{id}/versions/{vid}", api.handleDeleteVersion},
		{"POST /api/docs/{id}/restore", api.submits.Limit(api.handleRestore)},
		{"GET /api/docs/{id}/members", api.handleMembers},
		{"PUT /api/docs/{id}/members", api.memberChanges.Limit(api.handleSetMember)},
		{"DELETE /api/docs/{id}/members/{user}", api.memberChanges.Limit(api.handleRemoveMember)},
		{"DELETE /api/docs/{id}/invitations/{email}", api.memberChanges.Limit(api.handleRevokeInvitation)},
		{"GET /api/invitations", api.handleMyInvitations},
		{"POST /api/invitations/{id}/accept", api.handleAcceptInvitation},
		{"DELETE /api/invitations/{id}", api.handleDeclineInvitation},
	} {
		mux.HandleFunc(r.pattern, api.auth.RequireUser(r.handler))
	}
	// A socket ticket (?ticket=) stands for the caller: browsers of host
	// apps cannot send Authorization on a WebSocket.
	mux.HandleFunc("GET /api/socket", api.auth.SocketTicket(api.auth.RequireUser(api.hub.ServeSocket)))
	mux.HandleFunc("PUT /api/apps/docs/{id}", api.auth.RequireUser(api.handlePutAppDoc))
}

// DocView is a document as the API shows it to one caller.
type DocView struct {
	ID        string     `json:"id"`
	Title     string     `json:"title"`
	Version   int64      `json:"version"`
	Role      store.Role `json:"role"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	Content   *string    `json:"content,omitempty"`
}

func docView(d store.Document, role store.Role) DocView {
	return DocView{ID: d.ID, Title: d.Title, Version: d.Version, Role: role, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
}

// fail writes err as the JSON error response.
func (api *DocsAPI) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpapi.WriteError(w, r, api.log, err)
}

// caller returns the signed-in user (RequireUser guarantees one).
func caller(r *http.Request) store.User {
	c, _ := auth.CallerFrom(r.Context())
	return c.User
}

// authorize checks the caller's role on the document in the path.
func (api *DocsAPI) authorize(r *http.Request, need auth.Need) (store.Role, error) {
	c, _ := auth.CallerFrom(r.Context())
	return auth.AuthorizeCaller(r.Context(), api.store, r.PathValue("id"), c, need)
}

// authorizeBody checks the caller's role on the document in the path, then
// (only then: a stranger's body is never read) decodes the request body,
// of at most limit bytes, into dst.
func (api *DocsAPI) authorizeBody(w http.ResponseWriter, r *http.Request, need auth.Need, limit int64, dst any) (store.Role, error) {
	role, err := api.authorize(r, need)
	if err != nil {
		return "", err
	}
	return role, httpapi.DecodeJSON(w, r, limit, dst)
}

// queryInt reads an optional integer query parameter.
func queryInt(r *http.Request, name string, def int64) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, store.Errorf(store.CodeBadRequest, "%s must be a non-negative integer", name)
	}
	return n, nil
}
