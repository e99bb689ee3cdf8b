package collab

import (
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"tandem/auth"
	"tandem/store"
	"tandem/store/httpapi"
)

// Documents: create (with content), list the caller's, read one with its
// text, rename, delete, and read the content at any past version.

// minCreateCost is what creating a document spends of the write budget at
// least: its rows cost something even when it is empty.
const minCreateCost = 1024

// MaxTitleLen bounds a document title, in code points.
const MaxTitleLen = 200

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
	if api.refuseGranted(w, r) {
		return
	}
	nd, ok := api.newDocument(w, r)
	if !ok {
		return
	}
	d, err := api.store.CreateDocument(r.Context(), nd)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, docView(d, store.RoleOwner))
}

// newDocument reads a create request's title and content, checks them and
// spends the caller's write budget on them; ok is false when it has
// answered the request with a refusal instead. The document is the
// caller's.
func (api *DocsAPI) newDocument(w http.ResponseWriter, r *http.Request) (nd store.NewDocument, ok bool) {
	var req CreateRequest
	// The body holds the content: allow for JSON escaping on top of it.
	if err := httpapi.DecodeJSON(w, r, api.maxTextBody(), &req); err != nil {
		api.fail(w, r, err)
		return nd, false
	}
	title, err := ValidateTitle(req.Title)
	if err != nil {
		api.fail(w, r, err)
		return nd, false
	}
	content, err := NormalizeContent(req.Content, api.cfg.MaxDocBytes)
	if err != nil {
		api.fail(w, r, err)
		return nd, false
	}
	// A new document is stored for good too: it spends the write budget,
	// at least a small amount even when empty.
	if ok, retry := api.hub.writes.Take(caller(r).ID, max(len(content)+len(title), minCreateCost), time.Now()); !ok {
		httpapi.WriteRateLimited(w, r, api.log, retry, writingTooFast)
		return nd, false
	}
	return store.NewDocument{OwnerID: caller(r).ID, Title: title, Content: content}, true
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
	var req RenameRequest
	role, err := api.authorizeBody(w, r, auth.NeedManage, api.maxBody(), &req)
	if err != nil {
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
	api.hub.MembersChanged(r.Context(), r.PathValue("id"))
	w.WriteHeader(http.StatusNoContent)
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
