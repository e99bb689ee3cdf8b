package collab

import (
	"errors"
	"net/http"

	"tandem/auth"
	"tandem/store"
	"tandem/store/httpapi"
)

// Members: list a document's members (and, to those who manage it, its
// pending invitations), share it or change a role, remove a member or leave.
// Sharing stores an invitation: see invitations.go.

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
	var req MemberRequest
	if _, err := api.authorizeBody(w, r, auth.NeedManage, api.maxBody(), &req); err != nil {
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
		api.hub.MembersChanged(r.Context(), r.PathValue("id"))
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
	api.hub.MembersChanged(r.Context(), r.PathValue("id"))
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
