// Package collab is the real-time engine and the document API: the REST
// handlers for documents (CRUD, content at a version, history, members) and,
// as it lands, the hub of document rooms, the per-document sequencer,
// presence and the WebSocket protocol.
package collab

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"

	"tandem/auth"
	"tandem/ot"
	"tandem/store"
	"tandem/store/httpapi"
)

// minCreateCost is what creating a document spends of the write budget at
// least: its rows cost something even when it is empty.
const minCreateCost = 1024

// MaxTitleLen bounds a document title, in code points.
const MaxTitleLen = 200

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
		{"GET /api/socket", api.hub.ServeSocket},
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

// rateLimited answers 429 with err and Retry-After.
func (api *DocsAPI) rateLimited(w http.ResponseWriter, r *http.Request, retry time.Duration, err error) {
	w.Header().Set("Retry-After", strconv.Itoa(auth.RetrySeconds(retry)))
	api.fail(w, r, err)
}

// caller returns the signed-in user (RequireUser guarantees one).
func caller(r *http.Request) store.User {
	c, _ := auth.CallerFrom(r.Context())
	return c.User
}

// authorize checks the caller's role on the document in the path.
func (api *DocsAPI) authorize(r *http.Request, need auth.Need) (store.Role, error) {
	return auth.Authorize(r.Context(), api.store, r.PathValue("id"), caller(r).ID, need)
}

// CreateRequest is the body of POST /api/docs.
type CreateRequest struct {
	Title   string `json:"title"`
	Content string `json:"content"`
}

// ValidateTitle trims a title and checks it (an empty one becomes "Untitled").
func ValidateTitle(title string) (string, error) {
	if strings.TrimSpace(title) == "" {
		return "Untitled", nil
	}
	return store.ValidateName(title, "title", MaxTitleLen)
}

// NormalizeContent turns \r\n and lone \r into \n, as the editor does, and
// checks the text's size and encoding, and that it holds no U+0000.
func NormalizeContent(content string, maxBytes int) (string, error) {
	if len(content) > maxBytes {
		return "", store.Errorf(store.CodeTooLarge, "content is larger than %d bytes", maxBytes)
	}
	if !utf8.ValidString(content) {
		return "", store.Errorf(store.CodeBadRequest, "content is not valid UTF-8")
	}
	if strings.IndexByte(content, 0) >= 0 {
		return "", store.Errorf(store.CodeBadRequest, "content must not contain U+0000 (NUL)")
	}
	return strings.ReplaceAll(strings.ReplaceAll(content, "\r\n", "\n"), "\r", "\n"), nil
}

func (api *DocsAPI) handleCreate(w http.ResponseWriter, r *http.Request) {
	var req CreateRequest
	// The body holds the content: allow for JSON escaping on top of it.
	if err := httpapi.DecodeJSON(w, r, api.maxTextBody(), &req); err != nil {
		api.fail(w, r, err)
		return
	}
	title, err := ValidateTitle(req.Title)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	content, err := NormalizeContent(req.Content, api.cfg.MaxDocBytes)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	// A new document is stored for good too: it spends the write budget,
	// at least a small amount even when empty.
	if ok, retry := api.hub.writes.Take(caller(r).ID, max(len(content)+len(title), minCreateCost), time.Now()); !ok {
		api.rateLimited(w, r, retry, errWritingTooFast)
		return
	}
	d, err := api.store.CreateDocument(r.Context(), store.NewDocument{OwnerID: caller(r).ID, Title: title, Content: content})
	if err != nil {
		api.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, docView(d, store.RoleOwner))
}

func (api *DocsAPI) handleList(w http.ResponseWriter, r *http.Request) {
	docs, err := api.store.ListDocuments(r.Context(), caller(r).ID)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	views := make([]DocView, 0, len(docs))
	for _, d := range docs {
		views = append(views, docView(d.Document, d.Role))
	}
	httpapi.WriteJSON(w, http.StatusOK, struct {
		Docs []DocView `json:"docs"`
	}{views})
}

func (api *DocsAPI) handleGet(w http.ResponseWriter, r *http.Request) {
	role, err := api.authorize(r, auth.NeedRead)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	d, c, err := api.store.Load(r.Context(), r.PathValue("id"))
	if err != nil {
		api.fail(w, r, err)
		return
	}
	v := docView(d, role)
	v.Content = &c.Text
	httpapi.WriteJSON(w, http.StatusOK, v)
}

// RenameRequest is the body of PATCH /api/docs/{id}.
type RenameRequest struct {
	Title *string `json:"title"`
}

func (api *DocsAPI) handleRename(w http.ResponseWriter, r *http.Request) {
	role, err := api.authorize(r, auth.NeedManage)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	var req RenameRequest
	if err := httpapi.DecodeJSON(w, r, api.maxBody(), &req); err != nil {
		api.fail(w, r, err)
		return
	}
	if req.Title == nil {
		api.fail(w, r, store.Errorf(store.CodeBadRequest, "title is required"))
		return
	}
	title, err := ValidateTitle(*req.Title)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	d, err := api.store.RenameDocument(r.Context(), r.PathValue("id"), title)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, docView(d, role))
}

func (api *DocsAPI) handleDelete(w http.ResponseWriter, r *http.Request) {
	if _, err := api.authorize(r, auth.NeedManage); err != nil {
		api.fail(w, r, err)
		return
	}
	if err := api.store.DeleteDocument(r.Context(), r.PathValue("id")); err != nil {
		api.fail(w, r, err)
		return
	}
	api.hub.MembersChanged(r.PathValue("id"))
	w.WriteHeader(http.StatusNoContent)
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

func (api *DocsAPI) handleContent(w http.ResponseWriter, r *http.Request) {
	if _, err := api.authorize(r, auth.NeedRead); err != nil {
		api.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	var c store.Content
	var err error
	if r.URL.Query().Get("version") == "" {
		_, c, err = api.store.Load(r.Context(), id)
	} else {
		var v int64
		if v, err = queryInt(r, "version", 0); err == nil {
			c, err = api.store.ContentAt(r.Context(), id, v)
			if errors.Is(err, store.ErrNotFound) {
				err = store.Errorf(store.CodeNotFound, "document %s has no version %d", id, v)
			}
		}
	}
	if err != nil {
		api.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, struct {
		Version int64  `json:"version"`
		Content string `json:"content"`
	}{c.Version, c.Text})
}

func (api *DocsAPI) handleOps(w http.ResponseWriter, r *http.Request) {
	if _, err := api.authorize(r, auth.NeedRead); err != nil {
		api.fail(w, r, err)
		return
	}
	from, err := queryInt(r, "from", 1)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	to, err := queryInt(r, "to", 1<<62)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit", int64(api.cfg.MaxPageOps))
	if err != nil {
		api.fail(w, r, err)
		return
	}
	limit = min(max(limit, 1), int64(api.cfg.MaxPageOps))
	// One more than asked, to know whether there is a next page; the store
	// stops after the op that reaches the byte bound.
	recs, err := api.store.Ops(r.Context(), r.PathValue("id"), max(from, 1), to,
		store.Page{Limit: int(limit) + 1, MaxBytes: api.cfg.MaxPageBytes})
	if err != nil {
		api.fail(w, r, err)
		return
	}
	writeOpsPage(w, recs, int(limit), api.cfg.MaxPageBytes)
}

// writeOpsPage streams {"ops": [...], "next": N} with at most limit of recs
// and at most maxBytes of encoded ops (but always the first); next is the
// version of the first op left out, if any. The page is encoded op by op
// into the response, never held whole.
func writeOpsPage(w http.ResponseWriter, recs []store.OpRecord, limit, maxBytes int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	buf := append(make([]byte, 0, 1024), `{"ops":[`...)
	size := 0
	var next *int64
	for i, rec := range recs {
		enc, err := json.Marshal(rec)
		if err != nil {
			panic(http.ErrAbortHandler) // cannot happen for a stored op; never send half a page as whole
		}
		if i == limit || (i > 0 && size+len(enc) > maxBytes) {
			next = &rec.Version
			break
		}
		if i > 0 {
			buf = append(buf, ',')
		}
		size += len(enc)
		buf = append(buf, enc...)
		if _, err := w.Write(buf); err != nil {
			return // the client is gone
		}
		buf = buf[:0]
	}
	buf = append(buf, ']')
	if next != nil {
		buf = strconv.AppendInt(append(buf, `,"next":`...), *next, 10)
	}
	_, _ = w.Write(append(buf, "}\n"...))
}

func (api *DocsAPI) handleMembers(w http.ResponseWriter, r *http.Request) {
	role, err := api.authorize(r, auth.NeedRead)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	members, err := api.store.ListMembers(r.Context(), r.PathValue("id"))
	if err != nil {
		api.fail(w, r, err)
		return
	}
	if members == nil {
		members = []store.Member{}
	}
	// Pending invitations name people who have not said yes: only those
	// who manage the document see them.
	invitations := []store.Invitation{}
	if role.CanManage() {
		list, err := api.store.ListInvitations(r.Context(), r.PathValue("id"))
		if err != nil {
			api.fail(w, r, err)
			return
		}
		invitations = append(invitations, list...)
	}
	httpapi.WriteJSON(w, http.StatusOK, struct {
		Members     []store.Member     `json:"members"`
		Invitations []store.Invitation `json:"invitations"`
	}{members, invitations})
}

// MemberRequest is the body of PUT /api/docs/{id}/members.
type MemberRequest struct {
	Email string     `json:"email"`
	Role  store.Role `json:"role"`
}

// Validate checks the email and the role.
func (req *MemberRequest) Validate() error {
	email, err := auth.ValidateEmail(req.Email)
	if err != nil {
		return err
	}
	if !req.Role.Valid() {
		return store.Errorf(store.CodeBadRequest, "role must be owner, editor or viewer")
	}
	req.Email = email
	return nil
}

func (api *DocsAPI) handleSetMember(w http.ResponseWriter, r *http.Request) {
	if _, err := api.authorize(r, auth.NeedManage); err != nil {
		api.fail(w, r, err)
		return
	}
	var req MemberRequest
	if err := httpapi.DecodeJSON(w, r, api.maxBody(), &req); err != nil {
		api.fail(w, r, err)
		return
	}
	if err := req.Validate(); err != nil {
		api.fail(w, r, err)
		return
	}
	// Sharing never looks the email up and never adds anyone: it stores an
	// invitation, which the person accepts or declines, and the answer is
	// the same whether or not the email has an account. Only a member of
	// this document, whom the owner already sees, has their role changed
	// at once.
	shared, err := api.store.Invite(r.Context(), store.NewInvitation{
		DocID: r.PathValue("id"), Email: req.Email, Role: req.Role, InvitedBy: caller(r).ID,
	})
	if err != nil {
		api.fail(w, r, memberError(err))
		return
	}
	if shared.Member != nil {
		api.hub.MembersChanged(r.PathValue("id"))
		httpapi.WriteJSON(w, http.StatusOK, *shared.Member)
		return
	}
	httpapi.WriteJSON(w, http.StatusAccepted, struct {
		Invitation store.Invitation `json:"invitation"`
	}{*shared.Invitation})
}

func (api *DocsAPI) handleRemoveMember(w http.ResponseWriter, r *http.Request) {
	// Owners remove anyone; any member may leave.
	need := auth.NeedManage
	if r.PathValue("user") == caller(r).ID {
		need = auth.NeedRead
	}
	if _, err := api.authorize(r, need); err != nil {
		api.fail(w, r, err)
		return
	}
	if err := api.store.RemoveMember(r.Context(), r.PathValue("id"), r.PathValue("user")); err != nil {
		api.fail(w, r, memberError(err))
		return
	}
	api.hub.MembersChanged(r.PathValue("id"))
	w.WriteHeader(http.StatusNoContent)
}

// memberError words the store's membership errors for clients.
func memberError(err error) error {
	switch {
	case errors.Is(err, store.ErrConflict):
		return store.Errorf(store.CodeConflict, "a document must keep at least one owner")
	case errors.Is(err, store.ErrNotFound):
		return store.Errorf(store.CodeNotFound, "no such member")
	}
	return err
}

// SubmitRequest is the body of POST /api/docs/{id}/ops: an edit made against
// version, with a client-made id that makes re-sending it safe.
type SubmitRequest struct {
	Version *int64 `json:"version"`
	ID      string `json:"id"`
	Op      *ot.Op `json:"op"`
}

func (api *DocsAPI) handleSubmit(w http.ResponseWriter, r *http.Request) {
	if _, err := api.authorize(r, auth.NeedEdit); err != nil {
		api.fail(w, r, err)
		return
	}
	var req SubmitRequest
	if err := httpapi.DecodeJSON(w, r, api.maxTextBody(), &req); err != nil {
		api.fail(w, r, opError(err))
		return
	}
	switch {
	case req.Version == nil || *req.Version < 0:
		api.fail(w, r, store.Errorf(store.CodeBadRequest, "version must be a non-negative integer"))
		return
	case store.CheckOpID(req.ID) != nil:
		api.fail(w, r, store.Errorf(store.CodeBadRequest, "id must be 1 to %d bytes of UTF-8 without control characters", store.MaxOpIDLen))
		return
	case req.Op == nil:
		api.fail(w, r, store.Errorf(store.CodeBadRequest, "op is required"))
		return
	}
	if ok, retry := api.hub.allowWrite(caller(r).ID, *req.Op); !ok {
		api.rateLimited(w, r, retry, errWritingTooFast)
		return
	}
	v, err := api.hub.Submit(r.Context(), r.PathValue("id"), caller(r).ID, *req.Version, req.ID, *req.Op)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, struct {
		Version int64 `json:"version"`
	}{v})
}
