package storetest

import (
	"context"
	"testing"
	"time"

	"tandem/store"
)

func testApps(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, store.DefaultSnapshotEvery)

	_, err := s.CreateApp(ctx, store.NewApp{Name: "", Secret: "s"})
	wantErr(t, err, store.ErrInvalid, "app without a name")
	a, err := s.CreateApp(ctx, store.NewApp{Name: "Wiki", Secret: "secret-1"})
	must(t, err, "create app")
	b, err := s.CreateApp(ctx, store.NewApp{Name: "CRM", Secret: "secret-2", PublicKey: "cHVibGlj"})
	must(t, err, "create second app")
	if a.ID == "" || a.UserID == "" || a.Name != "Wiki" || a.Secret != "secret-1" || a.CreatedAt.IsZero() {
		t.Fatalf("created app = %+v", a)
	}
	got, err := s.App(ctx, b.ID)
	must(t, err, "app")
	if got.PublicKey != "cHVibGlj" || got.Secret != "secret-2" || got.UserID != b.UserID || got.RevokedAt != nil {
		t.Errorf("App = %+v, want %+v", got, b)
	}
	if acct, err := s.User(ctx, a.UserID); err != nil || acct.Name != "Wiki" || acct.Email != "" {
		t.Errorf("app's account = %+v, %v", acct, err)
	}

	// Users by subject: made once, renamed, kept apart per app.
	u1, err := s.AppUser(ctx, a.ID, "user-42", "Ann")
	must(t, err, "app user")
	u2, err := s.AppUser(ctx, a.ID, "user-42", "Ann")
	must(t, err, "app user again")
	u3, err := s.AppUser(ctx, a.ID, "user-42", "Ann B")
	must(t, err, "app user renamed")
	other, err := s.AppUser(ctx, b.ID, "user-42", "Ann")
	must(t, err, "same subject, other app")
	if u1.ID != u2.ID || u1.ID != u3.ID || u3.Name != "Ann B" || other.ID == u1.ID || u1.Email != "" {
		t.Errorf("app users: %+v %+v %+v %+v", u1, u2, u3, other)
	}
	if u, err := s.User(ctx, u1.ID); err != nil || u.Name != "Ann B" {
		t.Errorf("renamed app user = %+v, %v", u, err)
	}
	_, err = s.AppUser(ctx, "no-such-app", "x", "X")
	wantErr(t, err, store.ErrNotFound, "user of a missing app")
	_, err = s.AppUser(ctx, a.ID, "", "X")
	wantErr(t, err, store.ErrInvalid, "empty subject")
	// No email can name an app's accounts.
	_, err = s.UserByEmail(ctx, "")
	wantErr(t, err, store.ErrNotFound, "user by empty email")

	// Documents with the app's own ids.
	d, err := s.CreateDocument(ctx, store.NewDocument{ID: "team-1/notes", OwnerID: a.UserID, Title: "Notes"})
	must(t, err, "document with a given id")
	if d.ID != "team-1/notes" {
		t.Errorf("document id = %q", d.ID)
	}
	_, err = s.CreateDocument(ctx, store.NewDocument{ID: "team-1/notes", OwnerID: b.UserID, Title: "Taken"})
	wantErr(t, err, store.ErrConflict, "document id taken")
	if role, err := s.Role(ctx, d.ID, a.UserID); err != nil || role != store.RoleOwner {
		t.Errorf("app's role = %q, %v", role, err)
	}

	must(t, s.RevokeApp(ctx, a.ID), "revoke")
	wantErr(t, s.RevokeApp(ctx, a.ID), store.ErrNotFound, "revoke twice")
	_, err = s.App(ctx, a.ID)
	wantErr(t, err, store.ErrNotFound, "revoked app")
	list, err := s.ListApps(ctx)
	must(t, err, "list apps")
	if len(list) != 2 || list[0].ID != a.ID || list[0].RevokedAt == nil || list[1].RevokedAt != nil {
		t.Errorf("ListApps = %+v", list)
	}
}

// testTickets: a socket ticket opens once, until it expires, and expired
// ones are cleared as new ones come.
func testTickets(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, store.DefaultSnapshotEvery)
	now := time.Now()

	wantErr(t, s.PutTicket(ctx, "", []byte("x"), now.Add(time.Minute)), store.ErrInvalid, "a ticket without a key")
	wantErr(t, s.PutTicket(ctx, "k0", nil, now.Add(time.Minute)), store.ErrInvalid, "a ticket without content")
	must(t, s.PutTicket(ctx, "k1", []byte("sealed-1"), now.Add(time.Minute)), "put")
	wantErr(t, s.PutTicket(ctx, "k1", []byte("other"), now.Add(time.Minute)), store.ErrConflict, "a taken key")
	got, err := s.TakeTicket(ctx, "k1", now)
	must(t, err, "take")
	if string(got) != "sealed-1" {
		t.Errorf("took %q, want sealed-1", got)
	}
	_, err = s.TakeTicket(ctx, "k1", now)
	wantErr(t, err, store.ErrNotFound, "a ticket taken twice")
	_, err = s.TakeTicket(ctx, "nope", now)
	wantErr(t, err, store.ErrNotFound, "an unknown ticket")

	// Expired: not given, and gone.
	must(t, s.PutTicket(ctx, "k2", []byte("sealed-2"), now.Add(time.Second)), "put k2")
	_, err = s.TakeTicket(ctx, "k2", now.Add(2*time.Second))
	wantErr(t, err, store.ErrNotFound, "an expired ticket")
	_, err = s.TakeTicket(ctx, "k2", now)
	wantErr(t, err, store.ErrNotFound, "an expired ticket, asked again")

	// A put clears what has expired by the store's clock.
	must(t, s.PutTicket(ctx, "old", []byte("sealed-3"), now.Add(-time.Hour)), "put an expired ticket")
	must(t, s.PutTicket(ctx, "k4", []byte("sealed-4"), now.Add(time.Minute)), "put k4")
	_, err = s.TakeTicket(ctx, "old", now.Add(-2*time.Hour))
	wantErr(t, err, store.ErrNotFound, "an expired ticket after a later put")
	if got, err := s.TakeTicket(ctx, "k4", now); err != nil || string(got) != "sealed-4" {
		t.Errorf("take k4: %q, %v", got, err)
	}
}
