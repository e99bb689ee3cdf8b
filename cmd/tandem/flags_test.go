package main

import (
	"strings"
	"testing"
)

// TestFlagsReachHandlers sets limits on the real serve flag set and checks
// that the handlers enforcing them use them. --max-body-bytes is one value
// for every JSON route: with it at 1,000,000, a rename with a 20 KB title is
// read (and refused as a bad title), not refused as too large, as it was when
// the document routes kept their own copy of the default.
func TestFlagsReachHandlers(t *testing.T) {
	srv := startServer(t, testConfig(t, "sqlite", "--max-body-bytes", "1000000", "--max-doc-bytes", "100"))
	ann, _ := signup(t, srv, "ann@example.com")
	r := ann.do("POST", "/api/docs", map[string]string{"title": "Notes"})
	ann.want(r, 201, "", "create")
	var d docBody
	r.json(t, &d)
	doc := "/api/docs/" + d.ID

	long := strings.Repeat("t", 20<<10)
	ann.want(ann.do("PATCH", doc, map[string]string{"title": long}), 400, "bad_request", "rename with a 20 KB title")
	ann.want(ann.do("POST", "/api/signup", map[string]string{"email": "bob@example.com", "password": "correct horse", "name": long}),
		400, "bad_request", "sign-up with a 20 KB name")
	r = ann.do("PATCH", doc, `{"title":"`+strings.Repeat("t", 1_000_000)+`"}`)
	ann.want(r, 413, "too_large", "rename with a body over 1,000,000 bytes")
	if !strings.Contains(string(r.body), "larger than 1000000 bytes") {
		t.Errorf("413 body %s does not name the configured limit", r.body)
	}

	// --max-doc-bytes bounds content given at creation (the REST handler)
	// and what an edit may grow a document to (the room's sequencer).
	ann.want(ann.do("POST", "/api/docs", map[string]string{"content": strings.Repeat("c", 100)}), 201, "", "content at the limit")
	ann.want(ann.do("POST", "/api/docs", map[string]string{"content": strings.Repeat("c", 101)}), 413, "too_large", "content over the limit")
	edit := func(id, text string) response {
		return ann.do("POST", doc+"/ops", map[string]any{"version": 0, "id": id, "op": []string{text}})
	}
	ann.want(edit("big", strings.Repeat("e", 101)), 413, "too_large", "an edit past the limit")
	ann.want(edit("fits", strings.Repeat("e", 100)), 200, "", "an edit up to the limit")
}
