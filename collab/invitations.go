package collab

import (
	"errors"
	"net/http"

	"tandem/auth"
	"tandem/store"
	"tandem/store/httpapi"
)

// Invitations: sharing a document (PUT /api/docs/{id}/members) offers a role
// to an email address; the person with that email lists their invitations,
// accepts or declines them here, and only accepting makes them a member.
// Owners see and revoke a document's pending invitations.

func (api *DocsAPI) handleRevokeInvitation(w http.ResponseWriter, r *http.Request) {
	if _, err := api.authorize(r, auth.NeedManage); err != nil {
		api.fail(w, r, err)
		return
	}
	err := api.store.RevokeInvitation(r.Context(), r.PathValue("id"), r.PathValue("email"))
	if errors.Is(err, store.ErrNotFound) {
		err = store.Errorf(store.CodeNotFound, "no invitation to that email")
	}
	if err != nil {
		api.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (api *DocsAPI) handleMyInvitations(w http.ResponseWriter, r *http.Request) {
	list, err := api.store.InvitationsFor(r.Context(), caller(r).ID)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	if list == nil {
		list = []store.PendingInvitation{}
	}
	httpapi.WriteJSON(w, http.StatusOK, struct {
		Invitations []store.PendingInvitation `json:"invitations"`
	}{list})
}

// noInvitation is the answer when the caller has no invitation to the
// document: the same whether or not the document exists.
func noInvitation(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return store.Errorf(store.CodeNotFound, "no invitation to that document")
	}
	return err
}

func (api *DocsAPI) handleAcceptInvitation(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	role, err := api.store.AcceptInvitation(r.Context(), id, caller(r).ID)
	if err != nil {
		api.fail(w, r, noInvitation(err))
		return
	}
	d, err := api.store.Document(r.Context(), id)
	if err != nil {
		api.fail(w, r, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, docView(d, role))
}

func (api *DocsAPI) handleDeclineInvitation(w http.ResponseWriter, r *http.Request) {
	if err := api.store.DeclineInvitation(r.Context(), r.PathValue("id"), caller(r).ID); err != nil {
		api.fail(w, r, noInvitation(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
