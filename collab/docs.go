// Package collab is the real-time engine and the document API: the REST
// handlers for documents (CRUD, content at a version, history, members) and,
// as it lands, the hub of document rooms, the per-document sequencer,
// presence and the WebSocket protocol.
package collab

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"tandem/auth"
	"tandem/ot"
	"tandem/store"
)

// Limits are the sizes the document API enforces.
type Limits struct {
	MaxDocBytes  int   // a document's text, in bytes (UTF-8)
	MaxBodyBytes int64 // a request body other than document content
	MaxPageOps   int   // operations in one page of history
}

// DefaultLimits holds the defaults the command line starts from.
var DefaultLimits = Limits{MaxDocBytes: 1 << 20, MaxBodyBytes: 16 << 10, MaxPageOps: 1000}

// MaxTitleLen bounds a document title, in code points.
const MaxTitleLen = 200

// DocsAPI serves the document REST routes and the socket.
type DocsAPI struct {
	store  store.Store
	auth   *auth.Service
	hub    *Hub
	limits Limits
	log    *slog.Logger
}

// NewDocsAPI returns the document API on st, whose edits and membership
// changes go through hub.
func NewDocsAPI(st store.Store, a *auth.Service, hub *Hub, limits Limits, log *slog.Logger) *DocsAPI {
	return &DocsAPI{store: st, auth: a, hub: hub, limits: limits, log: log}
}

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
		{"POST /api/docs/{id}/ops", api.handleSubmit},
		{"GET /api/socket", api.hub.ServeSocket},
		{"GET /api/docs/{id}/members", api.handleMembers},
		{"PUT /api/docs/{id}/members", api.handleSetMember},
		{"DELETE /api/docs/{id}/members/{user}", api.handleRemoveMember},
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
	auth.WriteError(w, r, api.log, err)
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
	return auth.ValidateName(title, "title", MaxTitleLen)
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
	if err := auth.DecodeJSON(w, r, api.limits.MaxBodyBytes+2*int64(api.limits.MaxDocBytes), &req); err != nil {
		api.fail(w, r, err)
		return
	}
	title, err := ValidateTitle(req.Title)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	content, err := NormalizeContent(req.Content, api.limits.MaxDocBytes)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	d, err := api.store.CreateDocument(r.Context(), store.NewDocument{OwnerID: caller(r).ID, Title: title, Content: content})
	if err != nil {
		api.fail(w, r, err)
		return
	}
	auth.WriteJSON(w, http.StatusCreated, docView(d, store.RoleOwner))
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
	auth.WriteJSON(w, http.StatusOK, struct {
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
	auth.WriteJSON(w, http.StatusOK, v)
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
	if err := auth.DecodeJSON(w, r, api.limits.MaxBodyBytes, &req); err != nil {
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
	auth.WriteJSON(w, http.StatusOK, docView(d, role))
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
	auth.WriteJSON(w, http.StatusOK, struct {
		Version int64  `json:"version"`
		Content string `json:"content"`
	}{c.Version, c.Text})
}

// opsPage is a page of history; Next, when set, is the from of the next page.
type opsPage struct {
	Ops  []store.OpRecord `json:"ops"`
	Next *int64           `json:"next,omitempty"`
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
	limit, err := queryInt(r, "limit", int64(api.limits.MaxPageOps))
	if err != nil {
		api.fail(w, r, err)
		return
	}
	limit = min(max(limit, 1), int64(api.limits.MaxPageOps))
	// One more than asked, to know whether there is a next page.
	recs, err := api.store.Ops(r.Context(), r.PathValue("id"), max(from, 1), to, int(limit)+1)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	page := opsPage{Ops: recs}
	if int64(len(recs)) > limit {
		next := recs[limit].Version
		page = opsPage{Ops: recs[:limit], Next: &next}
	}
	if page.Ops == nil {
		page.Ops = []store.OpRecord{}
	}
	auth.WriteJSON(w, http.StatusOK, page)
}

func (api *DocsAPI) handleMembers(w http.ResponseWriter, r *http.Request) {
	if _, err := api.authorize(r, auth.NeedRead); err != nil {
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
	auth.WriteJSON(w, http.StatusOK, struct {
		Members []store.Member `json:"members"`
	}{members})
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
	if err := auth.DecodeJSON(w, r, api.limits.MaxBodyBytes, &req); err != nil {
		api.fail(w, r, err)
		return
	}
	if err := req.Validate(); err != nil {
		api.fail(w, r, err)
		return
	}
	u, err := api.store.UserByEmail(r.Context(), req.Email)
	if errors.Is(err, store.ErrNotFound) {
		err = store.Errorf(store.CodeNotFound, "no user with email %s", req.Email)
	}
	if err != nil {
		api.fail(w, r, err)
		return
	}
	if err := api.store.SetMember(r.Context(), r.PathValue("id"), u.ID, req.Role); err != nil {
		api.fail(w, r, memberError(err))
		return
	}
	api.hub.MembersChanged(r.PathValue("id"))
	auth.WriteJSON(w, http.StatusOK, store.Member{UserID: u.ID, Email: u.Email, Name: u.Name, Role: req.Role})
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
	if err := auth.DecodeJSON(w, r, api.limits.MaxBodyBytes+2*int64(api.limits.MaxDocBytes), &req); err != nil {
		if code, msg := store.ErrorCode(err); code == store.CodeBadRequest && inOp(err) {
			err = store.Errorf(store.CodeInvalidOp, "%s", msg)
		}
		api.fail(w, r, err)
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
	v, err := api.hub.Submit(r.Context(), r.PathValue("id"), caller(r).ID, *req.Version, req.ID, *req.Op)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	auth.WriteJSON(w, http.StatusOK, struct {
		Version int64 `json:"version"`
	}{v})
}
