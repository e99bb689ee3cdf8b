package storetest

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"unicode/utf8"

	"tandem/ot"
	"tandem/store"
)

// badStrings can be stored by neither store: Postgres text holds no U+0000
// and no invalid UTF-8, and SQLite is held to the same rule.
var badStrings = []string{"a\x00b", "\x00", "a\xffb"}

// testBadStrings: a key (id or email) holding U+0000 or invalid UTF-8 names
// nothing (ErrNotFound), text holding one is refused (ErrInvalid), on both
// stores alike and never as a driver error; and nothing changes.
func testBadStrings(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, 2)
	ann, bob := mustUser(t, s, "ann@example.com"), mustUser(t, s, "bob@example.com")
	d := mustDoc(t, s, ann, "ab")
	must(t, s.SetMember(ctx, d.ID, bob.ID, store.RoleEditor), "share with bob")
	tok, err := s.CreateToken(ctx, store.NewToken{UserID: ann.ID, Name: "laptop", Hash: []byte("digest")})
	must(t, err, "create token")
	good := []store.NewOp{{ID: "g1", UserID: ann.ID, Op: ot.Insertion(2, 2, "!")}}

	for _, k := range badStrings {
		notFound := func(err error, what string) {
			t.Helper()
			wantErr(t, err, store.ErrNotFound, what+" "+strconv.Quote(k))
		}
		invalid := func(err error, what string) {
			t.Helper()
			wantErr(t, err, store.ErrInvalid, what+" "+strconv.Quote(k))
		}
		// Keys: lookups find nothing, writes to them find nothing.
		_, err := s.User(ctx, k)
		notFound(err, "user")
		_, err = s.UserByEmail(ctx, k)
		notFound(err, "user by email")
		_, err = s.UserByEmail(ctx, "ann@example.com"+k)
		notFound(err, "user by email with suffix")
		notFound(s.SetPasswordHash(ctx, k, "h"), "set password of user")
		_, err = s.CreateToken(ctx, store.NewToken{UserID: k, Name: "x", Hash: []byte("d2")})
		notFound(err, "token for user")
		notFound(s.DeleteToken(ctx, ann.ID, k), "delete token")
		notFound(s.DeleteToken(ctx, k, tok.ID), "delete token of user")
		if l, err := s.ListTokens(ctx, k); err != nil || len(l) != 0 {
			t.Errorf("ListTokens(%s) = %v, %v; want none", strconv.Quote(k), l, err)
		}
		_, err = s.CreateDocument(ctx, store.NewDocument{OwnerID: k, Title: "x"})
		notFound(err, "document for owner")
		_, err = s.Document(ctx, k)
		notFound(err, "document")
		if l, err := s.ListDocuments(ctx, k); err != nil || len(l) != 0 {
			t.Errorf("ListDocuments(%s) = %v, %v; want none", strconv.Quote(k), l, err)
		}
		_, err = s.RenameDocument(ctx, k, "x")
		notFound(err, "rename document")
		notFound(s.DeleteDocument(ctx, k), "delete document")
		_, err = s.Role(ctx, k, ann.ID)
		notFound(err, "role on document")
		_, err = s.Role(ctx, d.ID, k)
		notFound(err, "role of user")
		_, err = s.ListMembers(ctx, k)
		notFound(err, "members of document")
		notFound(s.SetMember(ctx, k, bob.ID, store.RoleViewer), "set member of document")
		notFound(s.SetMember(ctx, d.ID, k, store.RoleViewer), "set member user")
		notFound(s.RemoveMember(ctx, k, bob.ID), "remove member of document")
		notFound(s.RemoveMember(ctx, d.ID, k), "remove member user")
		notFound(s.AppendOps(ctx, k, 0, good), "append to document")
		_, err = s.Ops(ctx, k, 1, 10, store.Page{})
		notFound(err, "ops of document")
		_, err = s.ContentAt(ctx, k, 0)
		notFound(err, "content of document")
		_, _, err = s.Load(ctx, k)
		notFound(err, "load document")
		_, err = s.Invite(ctx, store.NewInvitation{DocID: k, Email: "cat@example.com", Role: store.RoleViewer, InvitedBy: ann.ID})
		notFound(err, "invite to document")
		_, err = s.Invite(ctx, store.NewInvitation{DocID: d.ID, Email: "cat@example.com", Role: store.RoleViewer, InvitedBy: k})
		notFound(err, "invite by user")
		if l, err := s.ListInvitations(ctx, k); err != nil && !errors.Is(err, store.ErrNotFound) || len(l) != 0 {
			t.Errorf("ListInvitations(%s) = %v, %v; want none", strconv.Quote(k), l, err)
		}
		notFound(s.RevokeInvitation(ctx, k, "cat@example.com"), "revoke invitation to document")
		notFound(s.RevokeInvitation(ctx, d.ID, k), "revoke invitation of email")
		if l, err := s.InvitationsFor(ctx, k); err != nil && !errors.Is(err, store.ErrNotFound) || len(l) != 0 {
			t.Errorf("InvitationsFor(%s) = %v, %v; want none", strconv.Quote(k), l, err)
		}
		_, err = s.AcceptInvitation(ctx, k, bob.ID)
		notFound(err, "accept invitation to document")
		_, err = s.AcceptInvitation(ctx, d.ID, k)
		notFound(err, "accept invitation of user")
		notFound(s.DeclineInvitation(ctx, k, bob.ID), "decline invitation to document")
		notFound(s.DeclineInvitation(ctx, d.ID, k), "decline invitation of user")

		// Text: refused.
		_, err = s.CreateUser(ctx, store.NewUser{Email: "cat" + k + "@example.com", Name: "Cat", PasswordHash: "h"})
		invalid(err, "user with email")
		_, err = s.CreateUser(ctx, store.NewUser{Email: "cat@example.com", Name: "Cat" + k, PasswordHash: "h"})
		invalid(err, "user with name")
		_, err = s.CreateUser(ctx, store.NewUser{Email: "cat@example.com", Name: "Cat", PasswordHash: k})
		invalid(err, "user with password hash")
		invalid(s.SetPasswordHash(ctx, ann.ID, k), "set password hash")
		_, err = s.CreateToken(ctx, store.NewToken{UserID: ann.ID, Name: k, Hash: []byte("d3")})
		invalid(err, "token named")
		_, err = s.CreateDocument(ctx, store.NewDocument{OwnerID: ann.ID, Title: k})
		invalid(err, "document titled")
		_, err = s.CreateDocument(ctx, store.NewDocument{OwnerID: ann.ID, Title: "x", Content: k})
		invalid(err, "document holding")
		_, err = s.RenameDocument(ctx, d.ID, k)
		invalid(err, "rename document to")
		_, err = s.Invite(ctx, store.NewInvitation{DocID: d.ID, Email: "cat" + k + "@example.com", Role: store.RoleViewer, InvitedBy: ann.ID})
		invalid(err, "invite email")
		if utf8.ValidString(k) { // a Builder turns invalid UTF-8 into U+FFFD
			invalid(s.AppendOps(ctx, d.ID, 0, []store.NewOp{{ID: "n1", UserID: ann.ID, Op: ot.Insertion(2, 1, k)}}), "append op inserting")
			invalid(s.AppendOps(ctx, d.ID, 0, []store.NewOp{good[0], {ID: "n2", UserID: ann.ID, Op: ot.Insertion(3, 0, k)}}), "append batch with an op inserting")
		}
		invalid(s.AppendOps(ctx, d.ID, 0, []store.NewOp{{ID: "n1", UserID: k, Op: ot.Insertion(2, 1, "x")}}), "append op by user")
		invalid(s.AppendOps(ctx, d.ID, 0, []store.NewOp{{ID: "n" + k, UserID: ann.ID, Op: ot.Insertion(2, 1, "x")}}), "append op with id")
	}

	// Nothing changed, and the store still works: two ops reach a snapshot.
	users, err := s.ListUsers(ctx)
	must(t, err, "list users")
	if len(users) != 2 || users[0].PasswordHash != ann.PasswordHash || users[1].PasswordHash != bob.PasswordHash {
		t.Errorf("users after refusals = %+v", users)
	}
	if l, err := s.ListTokens(ctx, ann.ID); err != nil || len(l) != 1 {
		t.Errorf("tokens after refusals = %+v, %v", l, err)
	}
	if l, err := s.ListDocuments(ctx, ann.ID); err != nil || len(l) != 1 || l[0].Title != "Notes" || l[0].Version != 0 {
		t.Errorf("documents after refusals = %+v, %v", l, err)
	}
	if m, err := s.ListMembers(ctx, d.ID); err != nil || len(m) != 2 || m[1].Role != store.RoleEditor {
		t.Errorf("members after refusals = %+v, %v", m, err)
	}
	must(t, s.AppendOps(ctx, d.ID, 0, good), "append after refusals")
	must(t, s.AppendOps(ctx, d.ID, 1, []store.NewOp{{ID: "g2", UserID: bob.ID, Op: ot.Insertion(3, 0, "¡")}}), "append to a snapshot")
	if _, c, err := s.Load(ctx, d.ID); err != nil || c.Text != "¡ab!" || c.Version != 2 || c.Replayed != 0 {
		t.Errorf("Load = %+v, %v; want ¡ab! at 2 from its snapshot", c, err)
	}
}
