package collab

import (
	"errors"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"tandem/auth"
	"tandem/ot"
	"tandem/store"
	"tandem/store/httpapi"
)

// History people can see (issue 18): a timeline of a document's history,
// who wrote what (blame), export, named versions and restore. Every route
// needs read access but saving and restoring, which need edit access.

// MaxVersionName bounds a named version's name, in code points.
const MaxVersionName = 200

// minVersionCost is what saving a named version spends of the write budget
// at least: its row costs something whatever the name.
const minVersionCost = 256

// AuthorView is a user as the history routes show them: with the colour
// their presence has in the editor, and "" as the name of an account that
// is gone. Ops is how many operations they made in a timeline bucket.
type AuthorView struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Color string `json:"color"`
	Ops   int64  `json:"ops,omitempty"`
}

// authorViews names the users with ids, in one read.
func (api *DocsAPI) authorViews(r *http.Request, ids []string) (func(id string) AuthorView, error) {
	names, err := api.store.UserNames(r.Context(), ids)
	if err != nil {
		return nil, err
	}
	return func(id string) AuthorView { return AuthorView{ID: id, Name: names[id], Color: colorOf(id)} }, nil
}

// BucketView is one bucket of GET /api/docs/{id}/timeline.
type BucketView struct {
	From    int64        `json:"from"`
	To      int64        `json:"to"`
	Start   time.Time    `json:"start"`
	End     time.Time    `json:"end"`
	Ops     int64        `json:"ops"`
	Authors []AuthorView `json:"authors"`
}

// handleTimeline answers GET /api/docs/{id}/timeline?buckets=N.
func (api *DocsAPI) handleTimeline(w http.ResponseWriter, r *http.Request) {
	if _, err := api.authorize(r, auth.NeedRead); err != nil {
		api.fail(w, r, err)
		return
	}
	n, err := queryInt(r, "buckets", 100)
	if err != nil || n < 1 || n > store.MaxTimelineBuckets {
		api.fail(w, r, store.Errorf(store.CodeBadRequest, "buckets must be an integer from 1 to %d", store.MaxTimelineBuckets))
		return
	}
	head, acts, err := api.store.Timeline(r.Context(), r.PathValue("id"), int(n))
	if err != nil {
		api.fail(w, r, err)
		return
	}
	var ids []string
	for _, a := range acts {
		for _, au := range a.Authors {
			ids = append(ids, au.UserID)
		}
	}
	view, err := api.authorViews(r, ids)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	buckets := make([]BucketView, len(acts))
	for i, a := range acts {
		b := BucketView{From: a.From, To: a.To, Start: a.Start, End: a.End, Ops: a.Ops, Authors: make([]AuthorView, len(a.Authors))}
		for j, au := range a.Authors {
			b.Authors[j] = view(au.UserID)
			b.Authors[j].Ops = au.Ops
		}
		buckets[i] = b
	}
	httpapi.WriteJSON(w, http.StatusOK, struct {
		Version int64        `json:"version"`
		Buckets []BucketView `json:"buckets"`
	}{head, buckets})
}

// versionParam reads the optional ?version=, defaulting to the document's
// current version.
func (api *DocsAPI) versionParam(r *http.Request) (int64, error) {
	if r.URL.Query().Get("version") == "" {
		d, err := api.store.Document(r.Context(), r.PathValue("id"))
		return d.Version, err
	}
	return queryInt(r, "version", 0)
}

// noVersion words a store's not-found for a version the document lacks.
func noVersion(err error, id string, v int64) error {
	if errors.Is(err, store.ErrNotFound) {
		return store.Errorf(store.CodeNotFound, "document %s has no version %d", id, v)
	}
	return err
}

// handleBlame answers GET /api/docs/{id}/blame?version=v.
func (api *DocsAPI) handleBlame(w http.ResponseWriter, r *http.Request) {
	if _, err := api.authorize(r, auth.NeedRead); err != nil {
		api.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	v, err := api.versionParam(r)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	spans, err := api.store.Blame(r.Context(), id, v)
	if err != nil {
		api.fail(w, r, noVersion(err, id, v))
		return
	}
	var ids []string
	for _, s := range spans {
		if !slices.Contains(ids, s.UserID) {
			ids = append(ids, s.UserID)
		}
	}
	view, err := api.authorViews(r, ids)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	authors := make([]AuthorView, len(ids))
	for i, u := range ids {
		authors[i] = view(u)
	}
	httpapi.WriteJSON(w, http.StatusOK, struct {
		Version int64        `json:"version"`
		Spans   []store.Span `json:"spans"`
		Authors []AuthorView `json:"authors"`
	}{v, spans, authors})
}

// exportTypes are the formats of GET /api/docs/{id}/export: the text is the
// same, the type and the file name's extension differ.
var exportTypes = map[string]string{
	"txt": "text/plain; charset=utf-8",
	"md":  "text/markdown; charset=utf-8",
}

// handleExport answers GET /api/docs/{id}/export?version=v&format=txt|md
// with the text as a download.
func (api *DocsAPI) handleExport(w http.ResponseWriter, r *http.Request) {
	if _, err := api.authorize(r, auth.NeedRead); err != nil {
		api.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "txt"
	}
	ctype, ok := exportTypes[format]
	if !ok {
		api.fail(w, r, store.Errorf(store.CodeBadRequest, "format must be txt or md"))
		return
	}
	d, c, err := api.store.Load(r.Context(), id)
	if err == nil && r.URL.Query().Get("version") != "" {
		var v int64
		if v, err = queryInt(r, "version", 0); err == nil {
			c, err = api.store.ContentAt(r.Context(), id, v)
			err = noVersion(err, id, v)
		}
	}
	if err != nil {
		api.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", attachment(ExportName(d.Title)+"."+format))
	h.Set("X-Tandem-Version", strconv.FormatInt(c.Version, 10))
	h.Set("Content-Length", strconv.Itoa(len(c.Text)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(c.Text)) // a client gone is nothing to report
}

// ExportName makes a title safe as a file name: characters that file
// systems or the header refuse (controls, / \ : * ? " < > |) become "_",
// runs of spaces one, no dot or space at either end, at most 100 code
// points; "document" if nothing is left.
func ExportName(title string) string {
	var b strings.Builder
	space := false
	n := 0
	for _, c := range strings.TrimSpace(title) {
		if n == 100 {
			break
		}
		switch {
		case unicode.IsSpace(c):
			space = true
			continue
		case unicode.IsControl(c) || strings.ContainsRune(`/\:*?"<>|`, c) || !unicode.IsPrint(c):
			c = '_'
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
			n++
		}
		space = false
		b.WriteRune(c)
		n++
	}
	name := strings.Trim(b.String(), ". ")
	if name == "" {
		return "document"
	}
	return name
}

// attachment is a Content-Disposition header that downloads as name
// (RFC 2231 encoded when it is not ASCII).
func attachment(name string) string {
	if v := mime.FormatMediaType("attachment", map[string]string{"filename": name}); v != "" {
		return v
	}
	return `attachment; filename="document"`
}

// VersionView is a named version as the API shows it.
type VersionView struct {
	ID        string    `json:"id"`
	Version   int64     `json:"version"`
	Name      string    `json:"name"`
	User      UserRef   `json:"user"`
	CreatedAt time.Time `json:"created_at"`
}

// UserRef names a user ("" for an account that is gone).
type UserRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func versionView(v store.NamedVersion) VersionView {
	return VersionView{ID: v.ID, Version: v.Version, Name: v.Name, User: UserRef{ID: v.UserID, Name: v.UserName}, CreatedAt: v.CreatedAt}
}

// handleVersions answers GET /api/docs/{id}/versions, newest first.
func (api *DocsAPI) handleVersions(w http.ResponseWriter, r *http.Request) {
	if _, err := api.authorize(r, auth.NeedRead); err != nil {
		api.fail(w, r, err)
		return
	}
	list, err := api.store.NamedVersions(r.Context(), r.PathValue("id"))
	if err != nil {
		api.fail(w, r, err)
		return
	}
	views := make([]VersionView, len(list))
	for i, v := range list {
		views[i] = versionView(v)
	}
	httpapi.WriteJSON(w, http.StatusOK, struct {
		Versions []VersionView `json:"versions"`
	}{views})
}

// SaveVersionRequest is the body of POST /api/docs/{id}/versions; Version
// nil is the current version.
type SaveVersionRequest struct {
	Name    *string `json:"name"`
	Version *int64  `json:"version"`
}

// handleSaveVersion answers POST /api/docs/{id}/versions (owners and
// editors).
func (api *DocsAPI) handleSaveVersion(w http.ResponseWriter, r *http.Request) {
	var req SaveVersionRequest
	if _, err := api.authorizeBody(w, r, auth.NeedEdit, api.maxBody(), &req); err != nil {
		api.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	if req.Name == nil {
		api.fail(w, r, store.Errorf(store.CodeBadRequest, "name is required"))
		return
	}
	name, err := store.ValidateName(*req.Name, "name", MaxVersionName)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	if req.Version != nil && *req.Version < 0 {
		api.fail(w, r, store.Errorf(store.CodeBadRequest, "version must be a non-negative integer"))
		return
	}
	if ok, retry := api.hub.writes.Take(caller(r).ID, max(len(name), minVersionCost), time.Now()); !ok {
		httpapi.WriteRateLimited(w, r, api.log, retry, writingTooFast)
		return
	}
	var v int64
	if req.Version != nil {
		v = *req.Version
	} else {
		d, err := api.store.Document(r.Context(), id)
		if err != nil {
			api.fail(w, r, err)
			return
		}
		v = d.Version
	}
	saved, err := api.store.SaveVersion(r.Context(), store.NewNamedVersion{DocID: id, Version: v, Name: name, UserID: caller(r).ID})
	switch {
	case errors.Is(err, store.ErrInvalid):
		err = store.Errorf(store.CodeBadRequest, "version %d is past the document's current version", v)
	case errors.Is(err, store.ErrConflict):
		err = store.Errorf(store.CodeConflict, "a document keeps at most %d named versions: delete one first", store.MaxNamedVersions)
	}
	if err != nil {
		api.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, versionView(saved))
}

// handleDeleteVersion answers DELETE /api/docs/{id}/versions/{vid}: the
// document's owners delete any named version, others their own.
func (api *DocsAPI) handleDeleteVersion(w http.ResponseWriter, r *http.Request) {
	role, err := api.authorize(r, auth.NeedRead)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	id, vid := r.PathValue("id"), r.PathValue("vid")
	v, err := api.store.NamedVersion(r.Context(), id, vid)
	if errors.Is(err, store.ErrNotFound) {
		err = store.Errorf(store.CodeNotFound, "no named version %s", vid)
	}
	if err != nil {
		api.fail(w, r, err)
		return
	}
	if role != store.RoleOwner && v.UserID != caller(r).ID {
		api.fail(w, r, store.Errorf(store.CodeForbidden, "only an owner, or who saved it, may delete a named version"))
		return
	}
	if err := api.store.DeleteNamedVersion(r.Context(), id, vid); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = store.Errorf(store.CodeNotFound, "no named version %s", vid)
		}
		api.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// RestoreRequest is the body of POST /api/docs/{id}/restore: the version
// whose text to bring back, and optionally an op id that makes re-sending
// the request safe.
type RestoreRequest struct {
	Version *int64 `json:"version"`
	ID      string `json:"id"`
}

// handleRestore answers POST /api/docs/{id}/restore (owners and editors):
// the op that turns the current text into the text at the version, made by
// the caller and sequenced like POST /api/docs/{id}/ops, so that everyone
// connected sees it. History is not rewritten: the restore is one more
// version, which can be undone like any edit. Text already equal to the
// version's is left alone, and the answer is the current version.
func (api *DocsAPI) handleRestore(w http.ResponseWriter, r *http.Request) {
	var req RestoreRequest
	if _, err := api.authorizeBody(w, r, auth.NeedEdit, api.maxBody(), &req); err != nil {
		api.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	if req.Version == nil || *req.Version < 0 {
		api.fail(w, r, store.Errorf(store.CodeBadRequest, "version must be a non-negative integer"))
		return
	}
	c, _ := auth.CallerFrom(r.Context())
	opID := req.ID
	if opID == "" {
		opID = "restore-" + store.NewID()
	} else if store.CheckOpID(opID) != nil {
		api.fail(w, r, store.Errorf(store.CodeBadRequest, "id must be 1 to %d bytes of UTF-8 without control characters", store.MaxOpIDLen))
		return
	} else if v, err := api.store.OpVersion(r.Context(), id, c.User.ID, opID); err == nil {
		// A re-send of a restore that is stored: its version, again.
		api.restored(w, v)
		return
	} else if !errors.Is(err, store.ErrNotFound) {
		api.fail(w, r, err)
		return
	}
	d, cur, err := api.store.Load(r.Context(), id)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	if *req.Version > d.Version {
		api.fail(w, r, store.Errorf(store.CodeBadRequest, "version %d is past the document's current version %d", *req.Version, d.Version))
		return
	}
	target, err := api.store.ContentAt(r.Context(), id, *req.Version)
	if err != nil {
		api.fail(w, r, noVersion(err, id, *req.Version))
		return
	}
	op := ot.Diff(cur.Text, target.Text)
	if op.IsNoop() {
		api.restored(w, cur.Version)
		return
	}
	if ok, retry := api.hub.allowWrite(c.User.ID, op); !ok {
		httpapi.WriteRateLimited(w, r, api.log, retry, writingTooFast)
		return
	}
	// Made at the version read, it is transformed over anything that landed
	// since, as any edit is. A re-send still in the room is acknowledged
	// with its version; one stored between the look-up above and now is
	// refused as a reused id (its base is later): look again.
	v, err := api.hub.SubmitGranted(r.Context(), id, c.User.ID, c.Grants, cur.Version, opID, op)
	if code, _ := store.ErrorCode(err); err != nil && req.ID != "" && code == store.CodeConflict {
		if stored, err2 := api.store.OpVersion(r.Context(), id, c.User.ID, opID); err2 == nil {
			v, err = stored, nil
		}
	}
	if err != nil {
		api.fail(w, r, err)
		return
	}
	api.restored(w, v)
}

// restored answers a restore with the version it made, or found.
func (api *DocsAPI) restored(w http.ResponseWriter, version int64) {
	httpapi.WriteJSON(w, http.StatusOK, struct {
		Version int64 `json:"version"`
	}{version})
}
