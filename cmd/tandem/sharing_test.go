package main

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"tandem/store"
)

// shareBody is what sharing answers, whoever the email belongs to.
type shareBody struct {
	Invitation store.Invitation `json:"invitation"`
}

type memberList struct {
	Members     []store.Member     `json:"members"`
	Invitations []store.Invitation `json:"invitations"`
}

type pendingList struct {
	Invitations []store.PendingInvitation `json:"invitations"`
}

// TestSharingRevealsNothing: sharing with an email that has an account and
// with one that has none answers alike, and adds nobody: the person accepts
// (or declines) the invitation first.
func TestSharingRevealsNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, srv *server) {
		ann, annU := signup(t, srv, "ann@example.com")
		bob, bobU := signup(t, srv, "bob@example.com")
		var d docBody
		r := ann.do("POST", "/api/docs", map[string]string{"title": "Secret plan"})
		ann.want(r, 201, "", "create")
		r.json(t, &d)
		doc := "/api/docs/" + d.ID

		known := ann.do("PUT", doc+"/members", map[string]string{"email": "Bob@Example.com", "role": "editor"})
		unknown := ann.do("PUT", doc+"/members", map[string]string{"email": "zed@example.com", "role": "editor"})
		if known.status != unknown.status || known.status != http.StatusAccepted {
			t.Fatalf("share with an account: %d %s; without: %d %s; want both 202", known.status, known.body, unknown.status, unknown.body)
		}
		// The same fields; only the email (and the time) differ.
		var kb, ub map[string]map[string]any
		if err := json.Unmarshal(known.body, &kb); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(unknown.body, &ub); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(slices.Sorted(maps.Keys(kb)), []string{"invitation"}) ||
			!slices.Equal(slices.Sorted(maps.Keys(kb["invitation"])), slices.Sorted(maps.Keys(ub["invitation"]))) {
			t.Errorf("answers differ in shape: %s vs %s", known.body, unknown.body)
		}
		for _, k := range []string{"role", "invited_by"} {
			if kb["invitation"][k] != ub["invitation"][k] {
				t.Errorf("answers differ in %s: %s vs %s", k, known.body, unknown.body)
			}
		}
		if kb["invitation"]["email"] != "bob@example.com" || ub["invitation"]["email"] != "zed@example.com" {
			t.Errorf("invited emails: %s, %s", known.body, unknown.body)
		}
		if known.header.Get("Content-Type") != unknown.header.Get("Content-Type") {
			t.Errorf("content types differ: %q vs %q", known.header.Get("Content-Type"), unknown.header.Get("Content-Type"))
		}

		// Bob is not a member until he says yes.
		bob.want(bob.do("GET", doc, nil), 404, "not_found", "bob before accepting")
		var list struct {
			Docs []docBody `json:"docs"`
		}
		bob.do("GET", "/api/docs", nil).json(t, &list)
		if len(list.Docs) != 0 {
			t.Errorf("bob's documents before accepting: %+v", list.Docs)
		}
		var ml memberList
		ann.do("GET", doc+"/members", nil).json(t, &ml)
		if len(ml.Members) != 1 || len(ml.Invitations) != 2 {
			t.Errorf("ann sees members %+v and invitations %+v; want herself and 2 invitations", ml.Members, ml.Invitations)
		}

		// He sees the invitation, with the title and who sent it, and
		// accepts it.
		var pl pendingList
		r = bob.do("GET", "/api/invitations", nil)
		bob.want(r, 200, "", "bob's invitations")
		r.json(t, &pl)
		if len(pl.Invitations) != 1 || pl.Invitations[0].DocID != d.ID || pl.Invitations[0].Title != "Secret plan" ||
			pl.Invitations[0].Role != store.RoleEditor || pl.Invitations[0].InviterEmail != annU.Email {
			t.Fatalf("bob's invitations = %+v", pl.Invitations)
		}
		r = bob.do("POST", "/api/invitations/"+d.ID+"/accept", nil)
		bob.want(r, 200, "", "bob accepts")
		var accepted docBody
		r.json(t, &accepted)
		if accepted.ID != d.ID || accepted.Role != store.RoleEditor {
			t.Errorf("accepted = %+v", accepted)
		}
		bob.want(bob.do("GET", doc, nil), 200, "", "bob after accepting")
		bob.want(bob.do("POST", "/api/invitations/"+d.ID+"/accept", nil), 404, "not_found", "accept twice")
		ann.do("GET", doc+"/members", nil).json(t, &ml)
		if len(ml.Members) != 2 || ml.Members[1].UserID != bobU.ID || ml.Members[1].Role != store.RoleEditor || len(ml.Invitations) != 1 {
			t.Errorf("after bob accepts: members %+v, invitations %+v", ml.Members, ml.Invitations)
		}
		// A member who does not manage the document sees no invitations.
		bob.do("GET", doc+"/members", nil).json(t, &ml)
		if len(ml.Invitations) != 0 {
			t.Errorf("an editor sees invitations %+v", ml.Invitations)
		}
		// A member's role changes at once: the owner learns nothing new.
		r = ann.do("PUT", doc+"/members", map[string]string{"email": "bob@example.com", "role": "viewer"})
		ann.want(r, 200, "", "change bob's role")
		var m store.Member
		r.json(t, &m)
		if m.UserID != bobU.ID || m.Role != store.RoleViewer {
			t.Errorf("changed member = %+v", m)
		}

		// Whoever signs up with the invited email finds it, and may decline.
		zed, _ := signup(t, srv, "ZED@example.com")
		zed.do("GET", "/api/invitations", nil).json(t, &pl)
		if len(pl.Invitations) != 1 || pl.Invitations[0].DocID != d.ID {
			t.Fatalf("zed's invitations = %+v", pl.Invitations)
		}
		zed.want(zed.do("DELETE", "/api/invitations/"+d.ID, nil), 204, "", "zed declines")
		zed.want(zed.do("DELETE", "/api/invitations/"+d.ID, nil), 404, "not_found", "decline twice")
		zed.want(zed.do("GET", doc, nil), 404, "not_found", "zed after declining")
		zed.want(zed.do("POST", "/api/invitations/"+d.ID+"/accept", nil), 404, "not_found", "accept after declining")

		// The owner revokes an invitation; a stranger cannot.
		ann.want(ann.do("PUT", doc+"/members", map[string]string{"email": "cat@example.com", "role": "viewer"}), 202, "", "invite cat")
		zed.want(zed.do("DELETE", doc+"/invitations/cat@example.com", nil), 404, "not_found", "a stranger revokes")
		bob.want(bob.do("DELETE", doc+"/invitations/cat@example.com", nil), 403, "forbidden", "a viewer revokes")
		ann.want(ann.do("DELETE", doc+"/invitations/CAT@example.com", nil), 204, "", "ann revokes")
		ann.want(ann.do("DELETE", doc+"/invitations/cat@example.com", nil), 404, "not_found", "revoke twice")

		// Deleting the document deletes its invitations.
		ann.want(ann.do("PUT", doc+"/members", map[string]string{"email": "cat@example.com", "role": "viewer"}), 202, "", "invite cat again")
		cat, _ := signup(t, srv, "cat@example.com")
		ann.want(ann.do("DELETE", doc, nil), 204, "", "delete")
		cat.do("GET", "/api/invitations", nil).json(t, &pl)
		if len(pl.Invitations) != 0 {
			t.Errorf("cat's invitations after the delete = %+v", pl.Invitations)
		}
		cat.want(cat.do("POST", "/api/invitations/"+d.ID+"/accept", nil), 404, "not_found", "accept to a deleted document")
	})
}

// TestMemberChangeRateLimit: one user's sharing and membership changes are
// limited per minute; others are not held up.
func TestMemberChangeRateLimit(t *testing.T) {
	cfg := testConfig(t, "sqlite")
	cfg.collab.MemberChangesPerMinute = 3
	srv := startServer(t, cfg)
	ann, _ := signup(t, srv, "ann@example.com")
	bob, bobU := signup(t, srv, "bob@example.com")
	var d docBody
	ann.do("POST", "/api/docs", map[string]string{"title": "x"}).json(t, &d)
	doc := "/api/docs/" + d.ID

	ann.want(ann.do("PUT", doc+"/members", map[string]string{"email": "bob@example.com", "role": "editor"}), 202, "", "share 1")
	bob.want(bob.do("POST", "/api/invitations/"+d.ID+"/accept", nil), 200, "", "bob accepts")
	ann.want(ann.do("PUT", doc+"/members", map[string]string{"email": "guess1@example.com", "role": "editor"}), 202, "", "share 2")
	ann.want(ann.do("DELETE", doc+"/invitations/guess1@example.com", nil), 204, "", "revoke")
	for _, req := range []struct {
		method, path string
		body         any
	}{
		{"PUT", doc + "/members", map[string]string{"email": "guess2@example.com", "role": "editor"}},
		{"DELETE", doc + "/members/" + bobU.ID, nil},
		{"DELETE", doc + "/invitations/guess2@example.com", nil},
	} {
		r := ann.do(req.method, req.path, req.body)
		ann.want(r, 429, "rate_limited", req.method+" over the limit")
		if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
			t.Errorf("%s: Retry-After = %q", req.method, r.header.Get("Retry-After"))
		}
	}
	// Nothing the refused requests asked for happened; reading is not limited.
	var ml memberList
	ann.want(ann.do("GET", doc+"/members", nil), 200, "", "list members")
	ann.do("GET", doc+"/members", nil).json(t, &ml)
	if len(ml.Members) != 2 || len(ml.Invitations) != 0 {
		t.Errorf("after refused changes: members %+v, invitations %+v", ml.Members, ml.Invitations)
	}
	// Another user has their own allowance.
	var mine docBody
	bob.do("POST", "/api/docs", map[string]string{"title": "bob's"}).json(t, &mine)
	bob.want(bob.do("PUT", "/api/docs/"+mine.ID+"/members", map[string]string{"email": "ann@example.com", "role": "viewer"}), 202, "", "bob shares")
}
