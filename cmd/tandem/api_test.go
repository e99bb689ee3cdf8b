package main

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"tandem/auth"
	"tandem/store"
)

// forEachBackend runs test against a fresh server on each store.
func forEachBackend(t *testing.T, test func(t *testing.T, srv *server)) {
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) { test(t, startServer(t, testConfig(t, kind))) })
	}
}

type userBody struct {
	User auth.UserView `json:"user"`
}

// signup makes a new account and returns its client, signed in.
func signup(t *testing.T, srv *server, email string) (*client, auth.UserView) {
	t.Helper()
	c := newClient(t, srv)
	r := c.do("POST", "/api/signup", map[string]string{"email": email, "password": "correct horse", "name": "User " + email})
	c.want(r, http.StatusCreated, "", "signup "+email)
	var u userBody
	r.json(t, &u)
	return c, u.User
}

func TestAuthFlow(t *testing.T) {
	forEachBackend(t, func(t *testing.T, srv *server) {
		c := newClient(t, srv)
		c.want(c.do("GET", "/api/me", nil), 401, "unauthorized", "me before signup")

		r := c.do("POST", "/api/signup", map[string]string{"email": "Ann@Example.com", "password": "correct horse", "name": " Ann "})
		c.want(r, 201, "", "signup")
		var u userBody
		r.json(t, &u)
		if u.User.Email != "Ann@Example.com" || u.User.Name != "Ann" || u.User.ID == "" {
			t.Fatalf("signup returned %+v", u.User)
		}
		cookie := sessionCookie(r.header)
		if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Secure {
			t.Fatalf("session cookie = %+v; want HttpOnly, SameSite=Lax, not Secure without TLS", cookie)
		}
		r = c.do("GET", "/api/me", nil)
		c.want(r, 200, "", "me after signup")
		var me userBody
		r.json(t, &me)
		if me.User != u.User {
			t.Errorf("me = %+v, want %+v", me.User, u.User)
		}

		c.want(c.do("POST", "/api/logout", nil), 204, "", "logout")
		c.want(c.do("GET", "/api/me", nil), 401, "unauthorized", "me after logout")
		// The old cookie is dead on the server, not just forgotten by the client.
		replay := newClient(t, srv)
		replay.hdr["Cookie"] = cookie.Name + "=" + cookie.Value
		replay.want(replay.do("GET", "/api/me", nil), 401, "unauthorized", "replayed session cookie after logout")

		c.want(c.do("POST", "/api/login", map[string]string{"email": "ann@example.com", "password": "wrong horse"}), 401, "unauthorized", "wrong password")
		c.want(c.do("POST", "/api/login", map[string]string{"email": "nobody@example.com", "password": "correct horse"}), 401, "unauthorized", "unknown email")
		r = c.do("POST", "/api/login", map[string]string{"email": "ANN@example.com", "password": "correct horse"})
		c.want(r, 200, "", "login")
		if again := sessionCookie(r.header); again == nil || again.Value == cookie.Value {
			t.Errorf("login did not issue a new session token")
		}
		c.want(c.do("GET", "/api/me", nil), 200, "", "me after login")

		other := newClient(t, srv)
		other.want(other.do("POST", "/api/signup", map[string]string{"email": "ann@EXAMPLE.com", "password": "another one", "name": "Ann 2"}), 409, "conflict", "email taken")
		for _, bad := range []map[string]string{
			{"email": "not-an-email", "password": "correct horse", "name": "X"},
			{"email": "x@example.com", "password": "short", "name": "X"},
			{"email": "x@example.com", "password": strings.Repeat("p", auth.MaxPasswordLen+1), "name": "X"},
			{"email": "x@example.com", "password": "correct horse", "name": ""},
			{"email": "x@example.com", "password": "correct horse", "name": "bell\a"},
			{"email": "Ann <x@example.com>", "password": "correct horse", "name": "X"},
		} {
			other.want(other.do("POST", "/api/signup", bad), 400, "bad_request", fmt.Sprintf("signup %v", bad))
		}
		other.want(other.do("GET", "/api/me", nil), 401, "unauthorized", "refused signups sign nobody in")
	})
}

func sessionCookie(h http.Header) *http.Cookie {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if c.Name == "tandem_session" {
			return c
		}
	}
	return nil
}

func TestTokens(t *testing.T) {
	forEachBackend(t, func(t *testing.T, srv *server) {
		ann, annUser := signup(t, srv, "ann@example.com")
		r := ann.do("POST", "/api/tokens", map[string]string{"name": "laptop"})
		ann.want(r, 201, "", "create token")
		var tok struct {
			ID     string `json:"id"`
			Secret string `json:"token"`
		}
		r.json(t, &tok)
		if !strings.HasPrefix(tok.Secret, "tdm_") || tok.ID == "" {
			t.Fatalf("token = %+v", tok)
		}

		// A program: no cookies, no Origin, just the bearer token.
		prog := newClient(t, srv)
		prog.http.Jar = nil
		prog.token = tok.Secret
		r = prog.do("GET", "/api/me", nil)
		prog.want(r, 200, "", "me with a token")
		var me userBody
		r.json(t, &me)
		if me.User.ID != annUser.ID {
			t.Errorf("token authenticated %s, want %s", me.User.ID, annUser.ID)
		}
		prog.want(prog.do("POST", "/api/docs", map[string]string{"title": "From a script"}), 201, "", "create a document with a token")

		r = ann.do("GET", "/api/tokens", nil)
		ann.want(r, 200, "", "list tokens")
		var list struct {
			Tokens []store.Token `json:"tokens"`
		}
		r.json(t, &list)
		if len(list.Tokens) != 1 || list.Tokens[0].ID != tok.ID || list.Tokens[0].LastUsedAt == nil {
			t.Errorf("tokens = %+v, want the one token, used", list.Tokens)
		}
		if strings.Contains(string(r.body), tok.Secret) {
			t.Error("listing tokens shows a secret")
		}

		bob, _ := signup(t, srv, "bob@example.com")
		bob.want(bob.do("DELETE", "/api/tokens/"+tok.ID, nil), 404, "not_found", "delete someone else's token")
		ann.want(ann.do("DELETE", "/api/tokens/"+tok.ID, nil), 204, "", "revoke")
		prog.want(prog.do("GET", "/api/me", nil), 401, "unauthorized", "revoked token")
		prog.token = "tdm_made-up"
		prog.want(prog.do("GET", "/api/me", nil), 401, "unauthorized", "unknown token")
		prog.token = ""
		prog.hdr["Authorization"] = "Basic YW5uOnB3"
		prog.want(prog.do("GET", "/api/me", nil), 401, "unauthorized", "not a bearer token")
		ann.want(ann.do("POST", "/api/tokens", map[string]string{"name": ""}), 400, "bad_request", "token without a name")
	})
}

type docBody struct {
	ID      string     `json:"id"`
	Title   string     `json:"title"`
	Version int64      `json:"version"`
	Role    store.Role `json:"role"`
	Content *string    `json:"content"`
}

func TestDocuments(t *testing.T) {
	forEachBackend(t, func(t *testing.T, srv *server) {
		ann, _ := signup(t, srv, "ann@example.com")
		r := ann.do("POST", "/api/docs", map[string]string{"title": "Plan", "content": "line one\r\nline two\r"})
		ann.want(r, 201, "", "create")
		var d docBody
		r.json(t, &d)
		if d.ID == "" || d.Title != "Plan" || d.Version != 0 || d.Role != store.RoleOwner {
			t.Fatalf("created %+v", d)
		}
		r = ann.do("POST", "/api/docs", map[string]string{})
		ann.want(r, 201, "", "create without a title")
		var untitled docBody
		r.json(t, &untitled)
		if untitled.Title != "Untitled" {
			t.Errorf("default title = %q", untitled.Title)
		}

		r = ann.do("GET", "/api/docs/"+d.ID, nil)
		ann.want(r, 200, "", "get")
		var got docBody
		r.json(t, &got)
		if got.Content == nil || *got.Content != "line one\nline two\n" {
			t.Errorf("content = %v; want CRLF and CR made LF", got.Content)
		}

		r = ann.do("PATCH", "/api/docs/"+d.ID, map[string]string{"title": "Plan B"})
		ann.want(r, 200, "", "rename")
		r.json(t, &got)
		if got.Title != "Plan B" {
			t.Errorf("renamed title = %q", got.Title)
		}
		ann.want(ann.do("PATCH", "/api/docs/"+d.ID, map[string]any{}), 400, "bad_request", "rename without a title")
		ann.want(ann.do("PATCH", "/api/docs/"+d.ID, map[string]string{"title": strings.Repeat("t", 201)}), 400, "bad_request", "long title")

		r = ann.do("GET", "/api/docs", nil)
		ann.want(r, 200, "", "list")
		var list struct {
			Docs []docBody `json:"docs"`
		}
		r.json(t, &list)
		if len(list.Docs) != 2 || list.Docs[0].ID != d.ID || list.Docs[0].Content != nil {
			t.Errorf("list = %+v; want Plan B first, without content", list.Docs)
		}

		r = ann.do("GET", "/api/docs/"+d.ID+"/content?version=0", nil)
		ann.want(r, 200, "", "content at 0")
		var content struct {
			Version int64  `json:"version"`
			Content string `json:"content"`
		}
		r.json(t, &content)
		if content.Version != 0 || content.Content != "line one\nline two\n" {
			t.Errorf("content at 0 = %+v", content)
		}
		ann.want(ann.do("GET", "/api/docs/"+d.ID+"/content", nil), 200, "", "content now")
		ann.want(ann.do("GET", "/api/docs/"+d.ID+"/content?version=7", nil), 404, "not_found", "content at a future version")
		ann.want(ann.do("GET", "/api/docs/"+d.ID+"/content?version=-1", nil), 400, "bad_request", "negative version")
		ann.want(ann.do("GET", "/api/docs/"+d.ID+"/content?version=x", nil), 400, "bad_request", "version not a number")

		r = ann.do("GET", "/api/docs/"+d.ID+"/ops?from=1", nil)
		ann.want(r, 200, "", "ops")
		var ops struct {
			Ops []store.OpRecord `json:"ops"`
		}
		r.json(t, &ops)
		if len(ops.Ops) != 0 {
			t.Errorf("a new document has ops: %+v", ops.Ops)
		}
		ann.want(ann.do("GET", "/api/docs/"+d.ID+"/ops?limit=abc", nil), 400, "bad_request", "limit not a number")

		ann.want(ann.do("DELETE", "/api/docs/"+d.ID, nil), 204, "", "delete")
		ann.want(ann.do("GET", "/api/docs/"+d.ID, nil), 404, "not_found", "deleted document")
		ann.want(ann.do("DELETE", "/api/docs/"+d.ID, nil), 404, "not_found", "delete twice")
		ann.want(ann.do("GET", "/api/nothing-here", nil), 404, "not_found", "unknown API route")
	})
}

func TestMembersAndAuthorization(t *testing.T) {
	forEachBackend(t, func(t *testing.T, srv *server) {
		ann, annU := signup(t, srv, "ann@example.com")
		bob, bobU := signup(t, srv, "bob@example.com")
		cat, catU := signup(t, srv, "cat@example.com")
		stranger, _ := signup(t, srv, "dan@example.com")
		anon := newClient(t, srv)

		var d docBody
		r := ann.do("POST", "/api/docs", map[string]string{"title": "Shared", "content": "hello"})
		ann.want(r, 201, "", "create")
		r.json(t, &d)
		doc := "/api/docs/" + d.ID

		ann.want(ann.do("PUT", doc+"/members", map[string]string{"email": "BOB@example.com", "role": "editor"}), 202, "", "invite an editor")
		ann.want(ann.do("PUT", doc+"/members", map[string]string{"email": "cat@example.com", "role": "viewer"}), 202, "", "invite a viewer")
		bob.want(bob.do("POST", "/api/invitations/"+d.ID+"/accept", nil), 200, "", "bob accepts")
		cat.want(cat.do("POST", "/api/invitations/"+d.ID+"/accept", nil), 200, "", "cat accepts")
		ann.want(ann.do("PUT", doc+"/members", map[string]string{"email": "nobody@example.com", "role": "viewer"}), 202, "", "invite an unknown email")
		ann.want(ann.do("PUT", doc+"/members", map[string]string{"email": "cat@example.com", "role": "admin"}), 400, "bad_request", "unknown role")

		r = bob.do("GET", doc+"/members", nil)
		bob.want(r, 200, "", "editor lists members")
		var members struct {
			Members []store.Member `json:"members"`
		}
		r.json(t, &members)
		if len(members.Members) != 3 || members.Members[0].UserID != annU.ID || members.Members[1].Role != store.RoleEditor {
			t.Errorf("members = %+v", members.Members)
		}

		// Every route, as a stranger, an anonymous caller, a viewer and an
		// editor: who gets what.
		routes := []struct {
			method, path string
			body         any
			need         auth.Need
		}{
			{"GET", doc, nil, auth.NeedRead},
			{"GET", doc + "/content", nil, auth.NeedRead},
			{"GET", doc + "/ops", nil, auth.NeedRead},
			{"GET", doc + "/members", nil, auth.NeedRead},
			{"GET", doc + "/timeline", nil, auth.NeedRead},
			{"GET", doc + "/blame", nil, auth.NeedRead},
			{"GET", doc + "/export", nil, auth.NeedRead},
			{"GET", doc + "/versions", nil, auth.NeedRead},
			{"PATCH", doc, map[string]string{"title": "Mine"}, auth.NeedManage},
			{"PUT", doc + "/members", map[string]string{"email": "dan@example.com", "role": "owner"}, auth.NeedManage},
			{"DELETE", doc + "/members/" + annU.ID, nil, auth.NeedManage},
			{"DELETE", doc + "/invitations/nobody@example.com", nil, auth.NeedManage},
			{"DELETE", doc, nil, auth.NeedManage},
		}
		for _, rt := range routes {
			what := rt.method + " " + strings.TrimPrefix(rt.path, doc)
			stranger.want(stranger.do(rt.method, rt.path, rt.body), 404, "not_found", "stranger "+what)
			anon.want(anon.do(rt.method, rt.path, rt.body), 401, "unauthorized", "anonymous "+what)
			if rt.need > auth.NeedRead {
				cat.want(cat.do(rt.method, rt.path, rt.body), 403, "forbidden", "viewer "+what)
				bob.want(bob.do(rt.method, rt.path, rt.body), 403, "forbidden", "editor "+what)
			} else {
				cat.want(cat.do(rt.method, rt.path, rt.body), 200, "", "viewer "+what)
			}
		}
		// Saving a version and restoring: editors may, viewers may not.
		for _, rt := range []struct{ path, what string }{{doc + "/versions", "save a version"}, {doc + "/restore", "restore"}} {
			body := map[string]any{"name": "v", "version": 0}
			if strings.HasSuffix(rt.path, "/restore") {
				body = map[string]any{"version": 0}
			}
			stranger.want(stranger.do("POST", rt.path, body), 404, "not_found", "stranger "+rt.what)
			anon.want(anon.do("POST", rt.path, body), 401, "unauthorized", "anonymous "+rt.what)
			cat.want(cat.do("POST", rt.path, body), 403, "forbidden", "viewer "+rt.what)
		}
		anon.want(anon.do("GET", "/api/docs", nil), 401, "unauthorized", "anonymous list")
		anon.want(anon.do("POST", "/api/docs", map[string]string{"title": "x"}), 401, "unauthorized", "anonymous create")
		// Nothing the refused callers tried took effect.
		r = ann.do("GET", doc, nil)
		r.json(t, &d)
		if d.Title != "Shared" {
			t.Errorf("title changed to %q by a refused request", d.Title)
		}

		// Roles change and members leave.
		ann.want(ann.do("PUT", doc+"/members", map[string]string{"email": "cat@example.com", "role": "editor"}), 200, "", "promote cat")
		cat.want(cat.do("DELETE", doc+"/members/"+catU.ID, nil), 204, "", "cat leaves")
		cat.want(cat.do("GET", doc, nil), 404, "not_found", "cat after leaving")
		ann.want(ann.do("DELETE", doc+"/members/"+annU.ID, nil), 409, "conflict", "last owner leaves")
		ann.want(ann.do("PUT", doc+"/members", map[string]string{"email": "ann@example.com", "role": "viewer"}), 409, "conflict", "last owner demotes herself")
		ann.want(ann.do("DELETE", doc+"/members/"+catU.ID, nil), 404, "not_found", "remove a non-member")
		ann.want(ann.do("DELETE", doc+"/members/"+bobU.ID, nil), 204, "", "remove bob")
		bob.want(bob.do("GET", doc, nil), 404, "not_found", "bob after removal")
	})
}

func TestBadInputChangesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, srv *server) {
		ann, _ := signup(t, srv, "ann@example.com")
		big := strings.Repeat("x", srv.cfg.collab.MaxDocBytes+1)
		cases := []struct {
			name, method, path string
			body               any
			status             int
			code               string
		}{
			{"content over the limit", "POST", "/api/docs", map[string]string{"title": "big", "content": big}, 413, "too_large"},
			{"body over the limit", "POST", "/api/signup", `{"email":"a@b.co","password":"` + strings.Repeat("p", int(srv.cfg.collab.Auth.MaxBodyBytes)) + `","name":"x"}`, 413, "too_large"},
			{"malformed JSON", "POST", "/api/docs", `{"title": "x"`, 400, "bad_request"},
			{"not an object", "POST", "/api/docs", `["title"]`, 400, "bad_request"},
			{"unknown field", "POST", "/api/docs", `{"title": "x", "owner": "me"}`, 400, "bad_request"},
			{"two objects", "POST", "/api/docs", `{"title": "x"} {"title": "y"}`, 400, "bad_request"},
			{"wrong type", "POST", "/api/docs", `{"title": 7}`, 400, "bad_request"},
			{"empty body", "POST", "/api/docs", ``, 400, "bad_request"},
			{"invalid UTF-8", "POST", "/api/docs", "{\"title\": \"x\", \"content\": \"\xff\"}", 400, "bad_request"},
			{"name in another case", "POST", "/api/docs", `{"TITLE": "x"}`, 400, "bad_request"},
			{"duplicate name", "POST", "/api/docs", `{"title": "a", "title": "b"}`, 400, "bad_request"},
			{"trailing brace", "POST", "/api/docs", `{"title": "x"} }`, 400, "bad_request"},
			{"upper-case signup", "POST", "/api/signup", `{"EMAIL":"cat@example.com","PASSWORD":"correct horse","NAME":"Cat"}`, 400, "bad_request"},
			{"duplicate name in signup", "POST", "/api/signup", `{"email":"cat@example.com","password":"correct horse","name":"A","name":"B"}`, 400, "bad_request"},
		}
		for _, tc := range cases {
			ann.want(ann.do(tc.method, tc.path, tc.body), tc.status, tc.code, tc.name)
		}
		ann.hdr["Content-Type"] = "text/plain"
		ann.want(ann.do("POST", "/api/docs", `{"title":"x"}`), 415, "unsupported", "wrong content type")
		delete(ann.hdr, "Content-Type")

		var list struct {
			Docs []docBody `json:"docs"`
		}
		ann.do("GET", "/api/docs", nil).json(t, &list)
		if len(list.Docs) != 0 {
			t.Errorf("refused requests created %d documents", len(list.Docs))
		}
	})
}

func TestCrossSiteRefused(t *testing.T) {
	cfg := testConfig(t, "sqlite")
	cfg.allowedOrigins = "https://editor.example.com"
	srv := startServer(t, cfg)
	ann, _ := signup(t, srv, "ann@example.com")

	ann.hdr["Origin"] = "https://evil.example"
	ann.hdr["Sec-Fetch-Site"] = "cross-site"
	ann.want(ann.do("POST", "/api/docs", map[string]string{"title": "forged"}), 403, "forbidden", "cross-site POST with a valid cookie")
	ann.want(ann.do("POST", "/api/logout", nil), 403, "forbidden", "cross-site logout")
	ann.want(ann.do("GET", "/api/me", nil), 200, "", "cross-site GET is harmless")

	ann.hdr["Origin"] = "https://editor.example.com"
	ann.want(ann.do("POST", "/api/docs", map[string]string{"title": "allowed"}), 201, "", "POST from an allowed origin")
	delete(ann.hdr, "Sec-Fetch-Site")
	ann.hdr["Origin"] = srv.URL()
	ann.want(ann.do("POST", "/api/docs", map[string]string{"title": "same origin"}), 201, "", "same-origin POST")
	delete(ann.hdr, "Origin")

	var list struct {
		Docs []docBody `json:"docs"`
	}
	ann.do("GET", "/api/docs", nil).json(t, &list)
	for _, d := range list.Docs {
		if d.Title == "forged" {
			t.Error("the cross-site request created a document")
		}
	}
	if len(list.Docs) != 2 {
		t.Errorf("want the 2 allowed documents, got %d", len(list.Docs))
	}
}

func TestLoginRateLimit(t *testing.T) {
	cfg := testConfig(t, "sqlite")
	cfg.collab.Auth.LoginPerIP, cfg.collab.Auth.LoginPerAccount = 100, 3
	srv := startServer(t, cfg)
	signup(t, srv, "ann@example.com")
	c := newClient(t, srv)
	for i := range 3 {
		c.want(c.do("POST", "/api/login", map[string]string{"email": "ann@example.com", "password": "guess " + strconv.Itoa(i)}), 401, "unauthorized", "a wrong guess")
	}
	r := c.do("POST", "/api/login", map[string]string{"email": "ANN@example.com", "password": "correct horse"})
	c.want(r, 429, "rate_limited", "fourth attempt on one account in a minute")
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After = %q", r.header.Get("Retry-After"))
	}
	// Another account from the same IP is still fine.
	c.want(c.do("POST", "/api/login", map[string]string{"email": "bob@example.com", "password": "x"}), 401, "unauthorized", "another account")

	cfg = testConfig(t, "sqlite")
	cfg.collab.Auth.LoginPerIP = 2
	srv = startServer(t, cfg)
	c = newClient(t, srv)
	c.want(c.do("POST", "/api/signup", map[string]string{"email": "a@example.com", "password": "correct horse", "name": "A"}), 201, "", "signup 1")
	c.want(c.do("POST", "/api/signup", map[string]string{"email": "b@example.com", "password": "correct horse", "name": "B"}), 201, "", "signup 2")
	c.want(c.do("POST", "/api/signup", map[string]string{"email": "c@example.com", "password": "correct horse", "name": "C"}), 429, "rate_limited", "signup 3 from one IP")
}

func TestOperationalEndpoints(t *testing.T) {
	srv := startServer(t, testConfig(t, "sqlite"))
	c := newClient(t, srv)
	c.want(c.do("GET", "/healthz", nil), 200, "", "healthz")
	c.want(c.do("GET", "/readyz", nil), 200, "", "readyz")
	c.want(c.do("GET", "/api/openapi.json", nil), 200, "", "openapi")
	signup(t, srv, "ann@example.com")
	r := c.do("GET", "/metrics", nil)
	c.want(r, 200, "", "metrics")
	for _, want := range []string{
		`tandem_http_requests_total{method="POST",route="POST /api/signup",status="201"} 1`,
		`tandem_http_request_duration_seconds_bucket{route="GET /healthz"`,
		"go_goroutines",
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
