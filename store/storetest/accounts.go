package storetest

import (
	"context"
	"testing"
	"time"

	"tandem/store"
)

func testUsers(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, store.DefaultSnapshotEvery)

	ann, err := s.CreateUser(ctx, store.NewUser{Email: "Ann@Example.com", Name: "Ann", PasswordHash: "h1"})
	must(t, err, "create user")
	if ann.ID == "" || ann.Email != "Ann@Example.com" || ann.Name != "Ann" || ann.PasswordHash != "h1" || ann.CreatedAt.IsZero() {
		t.Fatalf("created user = %+v", ann)
	}
	bob := mustUser(t, s, "bob@example.com")

	got, err := s.User(ctx, ann.ID)
	must(t, err, "user by id")
	if got.ID != ann.ID || got.Email != ann.Email || got.PasswordHash != "h1" || !sameTime(got.CreatedAt, ann.CreatedAt) {
		t.Errorf("User = %+v, want %+v", got, ann)
	}
	for _, email := range []string{"ann@example.com", "ANN@EXAMPLE.COM", " Ann@Example.com "} {
		got, err := s.UserByEmail(ctx, email)
		must(t, err, "user by email "+email)
		if got.ID != ann.ID {
			t.Errorf("UserByEmail(%q) = %s, want %s", email, got.ID, ann.ID)
		}
	}

	_, err = s.CreateUser(ctx, store.NewUser{Email: "aNN@example.COM", Name: "Impostor", PasswordHash: "x"})
	wantErr(t, err, store.ErrConflict, "email taken in another case")
	_, err = s.User(ctx, "nobody")
	wantErr(t, err, store.ErrNotFound, "unknown user id")
	_, err = s.UserByEmail(ctx, "nobody@example.com")
	wantErr(t, err, store.ErrNotFound, "unknown email")

	users, err := s.ListUsers(ctx)
	must(t, err, "list users")
	if len(users) != 2 || users[0].ID != ann.ID || users[1].ID != bob.ID {
		t.Errorf("ListUsers = %+v, want ann then bob", users)
	}

	must(t, s.SetPasswordHash(ctx, bob.ID, "new-hash"), "set password")
	got, err = s.User(ctx, bob.ID)
	must(t, err, "user after password change")
	if got.PasswordHash != "new-hash" {
		t.Errorf("password hash = %q, want new-hash", got.PasswordHash)
	}
	wantErr(t, s.SetPasswordHash(ctx, "nobody", "x"), store.ErrNotFound, "set password of unknown user")
}

func testTokens(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, store.DefaultSnapshotEvery)
	ann, bob := mustUser(t, s, "ann@example.com"), mustUser(t, s, "bob@example.com")

	tok, err := s.CreateToken(ctx, store.NewToken{UserID: ann.ID, Name: "laptop", Hash: []byte("digest-1")})
	must(t, err, "create token")
	if tok.ID == "" || tok.UserID != ann.ID || tok.Name != "laptop" || tok.LastUsedAt != nil {
		t.Fatalf("created token = %+v", tok)
	}
	second, err := s.CreateToken(ctx, store.NewToken{UserID: ann.ID, Name: "ci", Hash: []byte("digest-2")})
	must(t, err, "create second token")

	_, err = s.CreateToken(ctx, store.NewToken{UserID: bob.ID, Name: "copy", Hash: []byte("digest-1")})
	wantErr(t, err, store.ErrConflict, "token hash reused")
	_, err = s.CreateToken(ctx, store.NewToken{UserID: "nobody", Name: "x", Hash: []byte("digest-3")})
	wantErr(t, err, store.ErrNotFound, "token for unknown user")

	found, err := s.TokenByHash(ctx, []byte("digest-1"))
	must(t, err, "token by hash")
	if found.ID != tok.ID || found.UserID != ann.ID || found.LastUsedAt != nil {
		t.Errorf("TokenByHash = %+v, want token %s, unused: a lookup only reads", found, tok.ID)
	}
	_, err = s.TokenByHash(ctx, []byte("no such digest"))
	wantErr(t, err, store.ErrNotFound, "unknown token hash")

	// Uses are recorded in batches; an older time never replaces a newer
	// one, and a token that is gone is skipped.
	must(t, s.RecordTokenUses(ctx, nil), "record no uses")
	used := time.Now().UTC().Truncate(time.Millisecond)
	must(t, s.RecordTokenUses(ctx, map[string]time.Time{tok.ID: used, "gone": used}), "record uses")
	must(t, s.RecordTokenUses(ctx, map[string]time.Time{tok.ID: used.Add(-time.Hour)}), "record an older use")
	found, err = s.TokenByHash(ctx, []byte("digest-1"))
	must(t, err, "token by hash after use")
	if found.LastUsedAt == nil || !sameTime(*found.LastUsedAt, used) {
		t.Errorf("last use = %v, want %v", found.LastUsedAt, used)
	}

	list, err := s.ListTokens(ctx, ann.ID)
	must(t, err, "list tokens")
	if len(list) != 2 || list[0].ID != tok.ID || list[1].ID != second.ID {
		t.Errorf("ListTokens = %+v, want laptop then ci", list)
	}
	if list[0].LastUsedAt == nil || !sameTime(*list[0].LastUsedAt, used) || list[1].LastUsedAt != nil {
		t.Errorf("last use not kept: %+v", list)
	}
	if l, err := s.ListTokens(ctx, bob.ID); err != nil || len(l) != 0 {
		t.Errorf("bob's tokens = %v, %v; want none", l, err)
	}

	wantErr(t, s.DeleteToken(ctx, bob.ID, tok.ID), store.ErrNotFound, "deleting someone else's token")
	must(t, s.DeleteToken(ctx, ann.ID, tok.ID), "delete token")
	wantErr(t, s.DeleteToken(ctx, ann.ID, tok.ID), store.ErrNotFound, "deleting a token twice")
	_, err = s.TokenByHash(ctx, []byte("digest-1"))
	wantErr(t, err, store.ErrNotFound, "revoked token")
}
