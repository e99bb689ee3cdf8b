package storetest

import (
	"context"
	"testing"
	"time"

	"tandem/ot"
	"tandem/store"
)

func testDocuments(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, store.DefaultSnapshotEvery)
	ann, bob := mustUser(t, s, "ann@example.com"), mustUser(t, s, "bob@example.com")

	d, err := s.CreateDocument(ctx, store.NewDocument{OwnerID: ann.ID, Title: "Plan", Content: "héllo 😀\n"})
	must(t, err, "create document")
	if d.ID == "" || d.Title != "Plan" || d.Version != 0 || d.CreatedBy != ann.ID || d.CreatedAt.IsZero() {
		t.Fatalf("created document = %+v", d)
	}
	got, err := s.Document(ctx, d.ID)
	must(t, err, "get document")
	if got.ID != d.ID || got.Title != "Plan" || got.Version != 0 || !sameTime(got.UpdatedAt, d.UpdatedAt) {
		t.Errorf("Document = %+v, want %+v", got, d)
	}
	c, err := s.ContentAt(ctx, d.ID, 0)
	must(t, err, "content at 0")
	if c.Text != "héllo 😀\n" || c.Version != 0 || c.Replayed != 0 {
		t.Errorf("content at 0 = %+v", c)
	}
	loaded, lc, err := s.Load(ctx, d.ID)
	must(t, err, "load")
	if loaded.ID != d.ID || lc.Text != "héllo 😀\n" || lc.Version != 0 {
		t.Errorf("Load = %+v, %+v", loaded, lc)
	}

	_, err = s.CreateDocument(ctx, store.NewDocument{OwnerID: "nobody", Title: "x"})
	wantErr(t, err, store.ErrNotFound, "document for unknown owner")
	_, err = s.CreateDocument(ctx, store.NewDocument{OwnerID: ann.ID, Title: "x", Content: "a\r\nb"})
	wantErr(t, err, store.ErrInvalid, "content with a carriage return")
	_, err = s.Document(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "unknown document")
	_, _, err = s.Load(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "load unknown document")

	// The most recently updated comes first; each with the caller's role.
	other := mustDoc(t, s, bob, "")
	must(t, s.SetMember(ctx, other.ID, ann.ID, store.RoleViewer), "share with ann")
	time.Sleep(5 * time.Millisecond)
	renamed, err := s.RenameDocument(ctx, d.ID, "Plan B")
	must(t, err, "rename")
	if renamed.Title != "Plan B" || !renamed.UpdatedAt.After(d.UpdatedAt) {
		t.Errorf("renamed = %+v", renamed)
	}
	list, err := s.ListDocuments(ctx, ann.ID)
	must(t, err, "list documents")
	if len(list) != 2 || list[0].ID != d.ID || list[0].Role != store.RoleOwner || list[1].ID != other.ID || list[1].Role != store.RoleViewer {
		t.Errorf("ListDocuments(ann) = %+v, want Plan B (owner) then bob's (viewer)", list)
	}
	if list, err := s.ListDocuments(ctx, bob.ID); err != nil || len(list) != 1 || list[0].ID != other.ID {
		t.Errorf("ListDocuments(bob) = %+v, %v", list, err)
	}
	_, err = s.RenameDocument(ctx, "nope", "x")
	wantErr(t, err, store.ErrNotFound, "rename unknown document")

	// Delete is hard: members, operations and snapshots go too.
	must(t, s.AppendOps(ctx, d.ID, 0, []store.NewOp{{ID: "o1", UserID: ann.ID, Op: ot.Insertion(8, 0, "x")}}), "append")
	must(t, s.DeleteDocument(ctx, d.ID), "delete document")
	wantErr(t, s.DeleteDocument(ctx, d.ID), store.ErrNotFound, "delete twice")
	_, err = s.Document(ctx, d.ID)
	wantErr(t, err, store.ErrNotFound, "deleted document")
	_, err = s.Role(ctx, d.ID, ann.ID)
	wantErr(t, err, store.ErrNotFound, "role on deleted document")
	_, err = s.Ops(ctx, d.ID, 1, 10, store.Page{})
	wantErr(t, err, store.ErrNotFound, "ops of deleted document")
	_, err = s.ContentAt(ctx, d.ID, 0)
	wantErr(t, err, store.ErrNotFound, "content of deleted document")
	if list, err := s.ListDocuments(ctx, ann.ID); err != nil || len(list) != 1 {
		t.Errorf("after delete ListDocuments(ann) = %+v, %v", list, err)
	}
}

func testMembers(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, store.DefaultSnapshotEvery)
	ann, bob, cat := mustUser(t, s, "ann@example.com"), mustUser(t, s, "bob@example.com"), mustUser(t, s, "cat@example.com")
	d := mustDoc(t, s, ann, "")

	role, err := s.Role(ctx, d.ID, ann.ID)
	must(t, err, "owner role")
	if role != store.RoleOwner {
		t.Errorf("creator's role = %q, want owner", role)
	}
	_, err = s.Role(ctx, d.ID, bob.ID)
	wantErr(t, err, store.ErrNotFound, "role of a non-member")

	must(t, s.SetMember(ctx, d.ID, cat.ID, store.RoleViewer), "add viewer")
	must(t, s.SetMember(ctx, d.ID, bob.ID, store.RoleViewer), "add bob")
	must(t, s.SetMember(ctx, d.ID, bob.ID, store.RoleEditor), "promote bob")
	if role, err := s.Role(ctx, d.ID, bob.ID); err != nil || role != store.RoleEditor {
		t.Errorf("bob's role = %q, %v; want editor", role, err)
	}
	members, err := s.ListMembers(ctx, d.ID)
	must(t, err, "list members")
	if len(members) != 3 || members[0].UserID != ann.ID || members[0].Role != store.RoleOwner ||
		members[1].UserID != bob.ID || members[1].Role != store.RoleEditor || members[1].Email != "bob@example.com" ||
		members[2].UserID != cat.ID || members[2].Role != store.RoleViewer {
		t.Errorf("ListMembers = %+v, want ann owner, bob editor, cat viewer", members)
	}

	wantErr(t, s.SetMember(ctx, d.ID, bob.ID, "admin"), store.ErrInvalid, "unknown role")
	wantErr(t, s.SetMember(ctx, d.ID, "nobody", store.RoleEditor), store.ErrNotFound, "unknown user")
	wantErr(t, s.SetMember(ctx, "nope", bob.ID, store.RoleEditor), store.ErrNotFound, "unknown document")
	_, err = s.ListMembers(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "members of unknown document")

	// A document always keeps an owner.
	wantErr(t, s.SetMember(ctx, d.ID, ann.ID, store.RoleEditor), store.ErrConflict, "demote the last owner")
	wantErr(t, s.RemoveMember(ctx, d.ID, ann.ID), store.ErrConflict, "remove the last owner")
	must(t, s.SetMember(ctx, d.ID, bob.ID, store.RoleOwner), "second owner")
	must(t, s.SetMember(ctx, d.ID, ann.ID, store.RoleViewer), "demote one of two owners")
	wantErr(t, s.RemoveMember(ctx, d.ID, bob.ID), store.ErrConflict, "remove the new last owner")

	must(t, s.RemoveMember(ctx, d.ID, cat.ID), "remove viewer")
	wantErr(t, s.RemoveMember(ctx, d.ID, cat.ID), store.ErrNotFound, "remove twice")
	wantErr(t, s.RemoveMember(ctx, "nope", cat.ID), store.ErrNotFound, "remove from unknown document")
	_, err = s.Role(ctx, d.ID, cat.ID)
	wantErr(t, err, store.ErrNotFound, "role after removal")
}
