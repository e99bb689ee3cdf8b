package collab

import (
	"errors"
	"net/http"
	"regexp"
	"time"

	"tandem/auth"
	"tandem/store"
	"tandem/store/httpapi"
)

// Host apps (docs/security.md): their users' sockets carry the token's
// grants and close when it expires; apps create documents with their own
// ids.

// grants are the host app token's grants the socket was opened with.
func (c *Conn) grants() *auth.Grants { return c.tokenGrants }

// callerInfo is who a socket's caller is, as others see them: a host app's
// user in the colour its token names, if it names one.
func callerInfo(c auth.Caller) UserInfo {
	info := UserInfo{ID: c.User.ID, Name: c.User.Name, Color: colorOf(c.User.ID)}
	if c.Grants != nil && c.Grants.Color != "" {
		info.Color = c.Grants.Color
	}
	return info
}

// closeAtExpiry closes the socket with 1008 when its host app token
// expires (not at the next handshake); it returns what stops the timer.
func (c *Conn) closeAtExpiry() (stop func()) {
	g := c.grants()
	if g == nil {
		return func() {}
	}
	t := time.AfterFunc(time.Until(g.Expires), func() { c.kick(closePolicy, "token expired") })
	return func() { t.Stop() }
}

// MaxAppDocID bounds the ids apps give their documents: the socket's
// limit on doc.
const MaxAppDocID = 64

// appDocID is what an app's document id may hold: letters, digits and
// . _ ~ / - (a "/" travels as %2F in a REST path). No "*": tokens use it
// for prefixes.
var appDocID = regexp.MustCompile(`^[A-Za-z0-9._~-][A-Za-z0-9._~/-]{0,63}$`)

// handlePutAppDoc creates a document with the app's own id, owned by the
// app's account (PUT /api/apps/docs/{id}, with the app's credentials):
// 201 when made, 200 when the app has it already (unchanged), 409 when
// the id is someone else's.
func (api *DocsAPI) handlePutAppDoc(w http.ResponseWriter, r *http.Request) {
	c, _ := auth.CallerFrom(r.Context())
	if c.App == nil {
		api.fail(w, r, store.Errorf(store.CodeForbidden, "only an app, with Authorization: Bearer <app-id>:<secret>, creates documents here"))
		return
	}
	id := r.PathValue("id")
	if !appDocID.MatchString(id) {
		api.fail(w, r, store.Errorf(store.CodeBadRequest, "a document id is 1 to %d of A-Z a-z 0-9 . _ ~ - / and does not start with /", MaxAppDocID))
		return
	}
	nd, ok := api.newDocument(w, r)
	if !ok {
		return
	}
	nd.ID = id
	d, err := api.store.CreateDocument(r.Context(), nd)
	if errors.Is(err, store.ErrConflict) {
		api.existingAppDoc(w, r, c, id)
		return
	}
	if err != nil {
		api.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusCreated, docView(d, store.RoleOwner))
}

// existingAppDoc answers a PUT for an id that is taken: 200 with the
// document if the app has a role on it, else 409.
func (api *DocsAPI) existingAppDoc(w http.ResponseWriter, r *http.Request, c auth.Caller, id string) {
	role, err := auth.Authorize(r.Context(), api.store, id, c.User.ID, auth.NeedRead)
	if code, _ := store.ErrorCode(err); code == store.CodeNotFound {
		api.fail(w, r, store.Errorf(store.CodeConflict, "document id %s is taken", id))
		return
	}
	if err != nil {
		api.fail(w, r, err)
		return
	}
	d, err := api.store.Document(r.Context(), id)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, docView(d, role))
}

// refuseGranted refuses a host app's user a route their token cannot
// reach: they open the documents it grants, nothing else.
func (api *DocsAPI) refuseGranted(w http.ResponseWriter, r *http.Request) bool {
	if c, _ := auth.CallerFrom(r.Context()); c.Grants != nil {
		api.fail(w, r, store.Errorf(store.CodeForbidden, "an app's token opens the documents it grants; the app creates documents"))
		return true
	}
	return false
}
