package client

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"tandem/auth"
)

// TestHostAppToken: two users of a host app, with JWTs its server signed,
// edit a document of the app's (docs/security.md, "Host apps").
func TestHostAppToken(t *testing.T) {
	s := startServer(t, nil)
	app, err := auth.CreateApp(context.Background(), s.st, auth.AppRequest{Name: "crm"})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PUT", s.URL+"/api/apps/docs/team-1", strings.NewReader(`{"title":"T","content":"hi"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+app.App.ID+":"+app.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("create the app's document: %v %v", resp, err)
	}
	resp.Body.Close()
	sign := func(sub string) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"iss": app.App.ID, "sub": sub, "docs": map[string]string{"team-*": "editor"},
			"exp": time.Now().Add(5 * time.Minute).Unix(),
		}).SignedString([]byte(app.Secret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	ctx := ctxT(t)
	var docs []*Doc
	for _, sub := range []string{"u1", "u2"} {
		c, err := Dial(ctx, s.URL, Options{Token: sign(sub)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if c.User().Name != sub {
			t.Fatalf("hello names %q, want %q", c.User().Name, sub)
		}
		docs = append(docs, open(t, c, "team-1"))
	}
	if err := docs[0].Insert(2, " there"); err != nil {
		t.Fatal(err)
	}
	if err := docs[1].Insert(0, "Oh, "); err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		if err := d.WaitSynced(ctx); err != nil {
			t.Fatal(err)
		}
		if err := d.WaitVersion(ctx, 2); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := docs[0].Text(), docs[1].Text(); a != "Oh, hi there" || b != a {
		t.Fatalf("texts %q and %q", a, b)
	}
	if _, err := Dial(ctx, s.URL, Options{Token: sign("u3") + "x"}); Code(err) != "unauthorized" {
		t.Fatalf("a forged token: %v", err)
	}
}
