package storetest

import (
	"context"
	"testing"

	"tandem/store"
)

func testInvitations(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, store.DefaultSnapshotEvery)
	ann, bob, cat := mustUser(t, s, "ann@example.com"), mustUser(t, s, "bob@example.com"), mustUser(t, s, "cat@example.com")
	d := mustDoc(t, s, ann, "")

	// An email with an account and one without are invited alike; neither
	// becomes a member.
	known, err := s.Invite(ctx, store.NewInvitation{DocID: d.ID, Email: " BOB@Example.com", Role: store.RoleEditor, InvitedBy: ann.ID})
	must(t, err, "invite bob")
	unknown, err := s.Invite(ctx, store.NewInvitation{DocID: d.ID, Email: "Zed@Example.com", Role: store.RoleViewer, InvitedBy: ann.ID})
	must(t, err, "invite an email without an account")
	for _, tc := range []struct {
		name  string
		got   store.Shared
		email string
		role  store.Role
	}{{"bob", known, "bob@example.com", store.RoleEditor}, {"zed", unknown, "zed@example.com", store.RoleViewer}} {
		i := tc.got.Invitation
		if tc.got.Member != nil || i == nil || i.Email != tc.email || i.Role != tc.role || i.InvitedBy != ann.ID || i.DocID != d.ID || i.CreatedAt.IsZero() {
			t.Errorf("Invite(%s) = %+v (invitation %+v), want an invitation to %s as %s", tc.name, tc.got, i, tc.email, tc.role)
		}
	}
	_, err = s.Role(ctx, d.ID, bob.ID)
	wantErr(t, err, store.ErrNotFound, "role of an invited user before accepting")
	if members, err := s.ListMembers(ctx, d.ID); err != nil || len(members) != 1 {
		t.Errorf("members after inviting = %+v, %v; want the owner alone", members, err)
	}

	// Inviting again replaces the offer.
	_, err = s.Invite(ctx, store.NewInvitation{DocID: d.ID, Email: "bob@example.com", Role: store.RoleViewer, InvitedBy: ann.ID})
	must(t, err, "invite bob again")
	list, err := s.ListInvitations(ctx, d.ID)
	must(t, err, "list invitations")
	roles := map[string]store.Role{}
	for _, i := range list {
		roles[i.Email] = i.Role
	}
	if len(list) != 2 || roles["bob@example.com"] != store.RoleViewer || roles["zed@example.com"] != store.RoleViewer {
		t.Errorf("ListInvitations = %+v, want bob and zed, both as viewers", list)
	}
	_, err = s.ListInvitations(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "invitations of an unknown document")

	// The invited person sees the offer, with the title and who made it.
	pending, err := s.InvitationsFor(ctx, bob.ID)
	must(t, err, "invitations for bob")
	if len(pending) != 1 || pending[0].DocID != d.ID || pending[0].Title != d.Title || pending[0].Role != store.RoleViewer ||
		pending[0].InviterName != ann.Name || pending[0].InviterEmail != ann.Email {
		t.Errorf("InvitationsFor(bob) = %+v", pending)
	}
	if pending, err := s.InvitationsFor(ctx, cat.ID); err != nil || len(pending) != 0 {
		t.Errorf("InvitationsFor(cat) = %+v, %v; want none", pending, err)
	}
	// Someone who signs up later with an invited email finds it waiting.
	zed := mustUser(t, s, "zed@EXAMPLE.com")
	if pending, err := s.InvitationsFor(ctx, zed.ID); err != nil || len(pending) != 1 || pending[0].DocID != d.ID {
		t.Errorf("InvitationsFor(zed) = %+v, %v", pending, err)
	}

	// Accepting makes a member with the offered role, once.
	role, err := s.AcceptInvitation(ctx, d.ID, bob.ID)
	must(t, err, "bob accepts")
	if role != store.RoleViewer {
		t.Errorf("accepted role = %q, want viewer", role)
	}
	if role, err := s.Role(ctx, d.ID, bob.ID); err != nil || role != store.RoleViewer {
		t.Errorf("bob's role after accepting = %q, %v", role, err)
	}
	_, err = s.AcceptInvitation(ctx, d.ID, bob.ID)
	wantErr(t, err, store.ErrNotFound, "accept twice")
	_, err = s.AcceptInvitation(ctx, d.ID, cat.ID)
	wantErr(t, err, store.ErrNotFound, "accept without an invitation")
	if pending, err := s.InvitationsFor(ctx, bob.ID); err != nil || len(pending) != 0 {
		t.Errorf("InvitationsFor(bob) after accepting = %+v, %v", pending, err)
	}

	// Inviting a member changes their role at once.
	got, err := s.Invite(ctx, store.NewInvitation{DocID: d.ID, Email: "Bob@example.com", Role: store.RoleEditor, InvitedBy: ann.ID})
	must(t, err, "invite a member")
	if got.Invitation != nil || got.Member == nil || got.Member.UserID != bob.ID || got.Member.Email != bob.Email ||
		got.Member.Name != bob.Name || got.Member.Role != store.RoleEditor {
		t.Errorf("Invite(member) = %+v (member %+v), want bob as editor", got, got.Member)
	}
	if role, err := s.Role(ctx, d.ID, bob.ID); err != nil || role != store.RoleEditor {
		t.Errorf("bob's role after the change = %q, %v", role, err)
	}
	_, err = s.Invite(ctx, store.NewInvitation{DocID: d.ID, Email: "ann@example.com", Role: store.RoleViewer, InvitedBy: ann.ID})
	wantErr(t, err, store.ErrConflict, "demote the last owner by inviting her")
	_, err = s.Invite(ctx, store.NewInvitation{DocID: d.ID, Email: "cat@example.com", Role: "admin", InvitedBy: ann.ID})
	wantErr(t, err, store.ErrInvalid, "unknown role")
	_, err = s.Invite(ctx, store.NewInvitation{DocID: "nope", Email: "cat@example.com", Role: store.RoleViewer, InvitedBy: ann.ID})
	wantErr(t, err, store.ErrNotFound, "invite to an unknown document")

	// Declining and revoking remove the offer, once.
	must(t, s.DeclineInvitation(ctx, d.ID, zed.ID), "zed declines")
	wantErr(t, s.DeclineInvitation(ctx, d.ID, zed.ID), store.ErrNotFound, "decline twice")
	_, err = s.AcceptInvitation(ctx, d.ID, zed.ID)
	wantErr(t, err, store.ErrNotFound, "accept after declining")
	_, err = s.Invite(ctx, store.NewInvitation{DocID: d.ID, Email: "cat@example.com", Role: store.RoleViewer, InvitedBy: ann.ID})
	must(t, err, "invite cat")
	must(t, s.RevokeInvitation(ctx, d.ID, "CAT@example.com"), "revoke cat's invitation")
	wantErr(t, s.RevokeInvitation(ctx, d.ID, "cat@example.com"), store.ErrNotFound, "revoke twice")
	if pending, err := s.InvitationsFor(ctx, cat.ID); err != nil || len(pending) != 0 {
		t.Errorf("InvitationsFor(cat) after revoking = %+v, %v", pending, err)
	}

	// Deleting the document deletes its invitations.
	_, err = s.Invite(ctx, store.NewInvitation{DocID: d.ID, Email: "cat@example.com", Role: store.RoleEditor, InvitedBy: ann.ID})
	must(t, err, "invite cat again")
	must(t, s.DeleteDocument(ctx, d.ID), "delete the document")
	if pending, err := s.InvitationsFor(ctx, cat.ID); err != nil || len(pending) != 0 {
		t.Errorf("InvitationsFor(cat) after the delete = %+v, %v", pending, err)
	}
	_, err = s.AcceptInvitation(ctx, d.ID, cat.ID)
	wantErr(t, err, store.ErrNotFound, "accept an invitation to a deleted document")
}
