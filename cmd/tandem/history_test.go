package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"tandem/ot"
	"tandem/store"
)

// historyDoc makes ann's document holding content, shared with bob
// (editor) and cat (viewer); dan is a stranger.
func historyDoc(t *testing.T, srv *server, title, content string) (ann, bob, cat, dan *client, ids map[string]string, doc string) {
	t.Helper()
	ids = map[string]string{}
	clients := make([]*client, 4)
	for i, name := range []string{"ann", "bob", "cat", "dan"} {
		c, view := signup(t, srv, name+"@example.com")
		clients[i], ids[name] = c, view.ID
	}
	ann, bob, cat, dan = clients[0], clients[1], clients[2], clients[3]
	var d docBody
	r := ann.do("POST", "/api/docs", map[string]string{"title": title, "content": content})
	ann.want(r, 201, "", "create")
	r.json(t, &d)
	for _, m := range []struct {
		c     *client
		email string
		role  string
	}{{bob, "bob@example.com", "editor"}, {cat, "cat@example.com", "viewer"}} {
		ann.want(ann.do("PUT", "/api/docs/"+d.ID+"/members", map[string]string{"email": m.email, "role": m.role}), 202, "", "share")
		m.c.want(m.c.do("POST", "/api/invitations/"+d.ID+"/accept", nil), 200, "", "accept")
	}
	return ann, bob, cat, dan, ids, d.ID
}

// edit submits an insertion at the end of the text over REST.
func edit(t *testing.T, c *client, doc, id, text string) int64 {
	t.Helper()
	cur, v := content(t, c, doc, -1)
	r := c.do("POST", "/api/docs/"+doc+"/ops", map[string]any{"version": v, "id": id,
		"op": ot.Insertion(utf8.RuneCountInString(cur), utf8.RuneCountInString(cur), text)})
	c.want(r, 200, "", "edit "+id)
	var out struct{ Version int64 }
	r.json(t, &out)
	return out.Version
}

// content reads the text at version (-1: the current one).
func content(t *testing.T, c *client, doc string, version int64) (string, int64) {
	t.Helper()
	path := "/api/docs/" + doc + "/content"
	if version >= 0 {
		path += fmt.Sprintf("?version=%d", version)
	}
	r := c.do("GET", path, nil)
	c.want(r, 200, "", "content")
	var out struct {
		Version int64
		Content string
	}
	r.json(t, &out)
	return out.Content, out.Version
}

type authorBody struct {
	ID, Name, Color string
	Ops             int64
}

func TestTimelineRoute(t *testing.T) {
	forEachBackend(t, func(t *testing.T, srv *server) {
		ann, bob, cat, dan, ids, doc := historyDoc(t, srv, "t", "hi")
		var tl struct {
			Version int64
			Buckets []struct {
				From, To   int64
				Start, End time.Time
				Ops        int64
				Authors    []authorBody
			}
		}
		r := cat.do("GET", "/api/docs/"+doc+"/timeline", nil)
		cat.want(r, 200, "", "timeline at version 0")
		r.json(t, &tl)
		if tl.Version != 0 || tl.Buckets == nil || len(tl.Buckets) != 0 || !strings.Contains(string(r.body), `"buckets":[]`) {
			t.Fatalf("timeline at version 0: %s", r.body)
		}
		for i := range 5 {
			edit(t, ann, doc, fmt.Sprintf("a%d", i), "a")
		}
		for i := range 3 {
			edit(t, bob, doc, fmt.Sprintf("b%d", i), "b")
		}
		r = cat.do("GET", "/api/docs/"+doc+"/timeline?buckets=3", nil)
		cat.want(r, 200, "", "timeline")
		r.json(t, &tl)
		if tl.Version != 8 || len(tl.Buckets) != 3 {
			t.Fatalf("timeline: %s", r.body)
		}
		want := []struct {
			from, to int64
			authors  []string
			ops      []int64
		}{{1, 3, []string{"ann"}, []int64{3}}, {4, 6, []string{"ann", "bob"}, []int64{2, 1}}, {7, 8, []string{"bob"}, []int64{2}}}
		for i, w := range want {
			b := tl.Buckets[i]
			if b.From != w.from || b.To != w.to || b.Ops != w.to-w.from+1 || b.Start.IsZero() || b.End.Before(b.Start) || len(b.Authors) != len(w.authors) {
				t.Fatalf("bucket %d = %+v", i, b)
			}
			for j, name := range w.authors {
				if a := b.Authors[j]; a.ID != ids[name] || a.Name != "User "+name+"@example.com" || !strings.HasPrefix(a.Color, "#") || a.Ops != w.ops[j] {
					t.Errorf("bucket %d author %d = %+v, want %s", i, j, a, name)
				}
			}
		}
		r = ann.do("GET", "/api/docs/"+doc+"/timeline", nil)
		r.json(t, &tl)
		if len(tl.Buckets) != 8 || tl.Buckets[7].From != 8 {
			t.Errorf("default timeline of 8 versions: %s", r.body)
		}
		for _, bad := range []string{"0", "1001", "-1", "x", "1.5"} {
			ann.want(ann.do("GET", "/api/docs/"+doc+"/timeline?buckets="+bad, nil), 400, "bad_request", "buckets="+bad)
		}
		dan.want(dan.do("GET", "/api/docs/"+doc+"/timeline", nil), 404, "not_found", "a stranger's timeline")
		ann.want(ann.do("GET", "/api/docs/nope/timeline", nil), 404, "not_found", "an unknown document's timeline")
	})
}

func TestBlameRoute(t *testing.T) {
	forEachBackend(t, func(t *testing.T, srv *server) {
		ann, bob, cat, dan, ids, doc := historyDoc(t, srv, "t", "héllo")
		edit(t, bob, doc, "b1", " wörld😀")
		edit(t, ann, doc, "a1", "!")
		type blameBody struct {
			Version int64
			Spans   []store.Span
			Authors []authorBody
		}
		var b blameBody
		r := cat.do("GET", "/api/docs/"+doc+"/blame", nil)
		cat.want(r, 200, "", "blame at head")
		r.json(t, &b)
		want := []store.Span{{Length: 5, UserID: ids["ann"]}, {Length: 7, UserID: ids["bob"]}, {Length: 1, UserID: ids["ann"]}}
		if b.Version != 2 || fmt.Sprint(b.Spans) != fmt.Sprint(want) || len(b.Authors) != 2 ||
			b.Authors[0].ID != ids["ann"] || b.Authors[1].ID != ids["bob"] || b.Authors[1].Name != "User bob@example.com" || b.Authors[0].Color == "" {
			t.Fatalf("blame at head: %s", r.body)
		}
		r = cat.do("GET", "/api/docs/"+doc+"/blame?version=0", nil)
		cat.want(r, 200, "", "blame at 0")
		r.json(t, &b)
		if b.Version != 0 || len(b.Spans) != 1 || b.Spans[0] != (store.Span{Length: 5, UserID: ids["ann"]}) {
			t.Errorf("blame at 0: %s", r.body)
		}
		ann.want(ann.do("GET", "/api/docs/"+doc+"/blame?version=3", nil), 404, "not_found", "blame past head")
		ann.want(ann.do("GET", "/api/docs/"+doc+"/blame?version=x", nil), 400, "bad_request", "blame at version x")
		dan.want(dan.do("GET", "/api/docs/"+doc+"/blame", nil), 404, "not_found", "a stranger's blame")
	})
}

func TestExportRoute(t *testing.T) {
	forEachBackend(t, func(t *testing.T, srv *server) {
		ann, bob, cat, dan, _, doc := historyDoc(t, srv, `Plan: "Q3"/Q4 ✓`, "# Plan\n")
		edit(t, bob, doc, "b1", "- ship\n")
		r := cat.do("GET", "/api/docs/"+doc+"/export", nil)
		cat.want(r, 200, "", "export")
		if string(r.body) != "# Plan\n- ship\n" || r.header.Get("Content-Type") != "text/plain; charset=utf-8" ||
			r.header.Get("X-Tandem-Version") != "1" {
			t.Errorf("export: %q %v", r.body, r.header)
		}
		if cd := r.header.Get("Content-Disposition"); cd != `attachment; filename*=utf-8''Plan_%20_Q3__Q4%20%E2%9C%93.txt` {
			t.Errorf("Content-Disposition = %s", cd)
		}
		r = ann.do("GET", "/api/docs/"+doc+"/export?format=md&version=0", nil)
		ann.want(r, 200, "", "export md at 0")
		if string(r.body) != "# Plan\n" || r.header.Get("Content-Type") != "text/markdown; charset=utf-8" ||
			!strings.HasSuffix(r.header.Get("Content-Disposition"), ".md") || r.header.Get("X-Tandem-Version") != "0" {
			t.Errorf("export md: %q %v", r.body, r.header)
		}
		ann.want(ann.do("GET", "/api/docs/"+doc+"/export?format=pdf", nil), 400, "bad_request", "export as pdf")
		ann.want(ann.do("GET", "/api/docs/"+doc+"/export?version=-1", nil), 400, "bad_request", "export at -1")
		ann.want(ann.do("GET", "/api/docs/"+doc+"/export?version=2", nil), 404, "not_found", "export past head")
		dan.want(dan.do("GET", "/api/docs/"+doc+"/export", nil), 404, "not_found", "a stranger's export")
	})
}

type versionBody struct {
	ID      string
	Version int64
	Name    string
	User    struct{ ID, Name string }
}

func TestNamedVersionRoutes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, srv *server) {
		ann, bob, cat, dan, ids, doc := historyDoc(t, srv, "t", "v0")
		edit(t, ann, doc, "a1", "+1")
		edit(t, bob, doc, "b1", "+2")
		path := "/api/docs/" + doc + "/versions"

		var first, mine versionBody
		r := ann.do("POST", path, map[string]any{"name": "first", "version": 1})
		ann.want(r, 201, "", "ann saves version 1")
		r.json(t, &first)
		if first.ID == "" || first.Version != 1 || first.Name != "first" || first.User.ID != ids["ann"] || first.User.Name != "User ann@example.com" {
			t.Errorf("saved %s", r.body)
		}
		r = bob.do("POST", path, map[string]any{"name": "  mine  "})
		bob.want(r, 201, "", "bob saves the head")
		r.json(t, &mine)
		if mine.Version != 2 || mine.Name != "mine" {
			t.Errorf("saved %s", r.body)
		}

		cat.want(cat.do("POST", path, map[string]any{"name": "x"}), 403, "forbidden", "a viewer saves")
		dan.want(dan.do("POST", path, map[string]any{"name": "x"}), 404, "not_found", "a stranger saves")
		for _, bad := range []any{
			map[string]any{},
			map[string]any{"name": ""},
			map[string]any{"name": "   "},
			map[string]any{"name": strings.Repeat("n", 201)},
			map[string]any{"name": "bell\a"},
			map[string]any{"name": "x", "version": 3},
			map[string]any{"name": "x", "version": -1},
			map[string]any{"name": "x", "version": "1"},
			map[string]any{"name": "x", "extra": true},
			"not json",
		} {
			ann.want(ann.do("POST", path, bad), 400, "bad_request", fmt.Sprintf("save %v", bad))
		}

		var list struct{ Versions []versionBody }
		r = cat.do("GET", path, nil)
		cat.want(r, 200, "", "list")
		r.json(t, &list)
		if len(list.Versions) != 2 || list.Versions[0].ID != mine.ID || list.Versions[1].ID != first.ID {
			t.Fatalf("list after refused saves: %s", r.body)
		}
		dan.want(dan.do("GET", path, nil), 404, "not_found", "a stranger lists")

		cat.want(cat.do("DELETE", path+"/"+first.ID, nil), 403, "forbidden", "a viewer deletes ann's")
		bob.want(bob.do("DELETE", path+"/"+first.ID, nil), 403, "forbidden", "an editor deletes ann's")
		dan.want(dan.do("DELETE", path+"/"+first.ID, nil), 404, "not_found", "a stranger deletes")
		bob.want(bob.do("DELETE", path+"/"+mine.ID, nil), 204, "", "bob deletes his own")
		ann.want(ann.do("DELETE", path+"/"+mine.ID, nil), 404, "not_found", "deleted twice")
		r = ann.do("POST", path, map[string]any{"name": "bob's, to go"})
		r.json(t, &mine)
		ann.want(ann.do("DELETE", path+"/"+first.ID, nil), 204, "", "the owner deletes her own")
		ann.want(ann.do("DELETE", path+"/nope", nil), 404, "not_found", "an unknown version")
		r = ann.do("GET", path, nil)
		r.json(t, &list)
		if len(list.Versions) != 1 || list.Versions[0].ID != mine.ID {
			t.Errorf("list at the end: %s", r.body)
		}
	})
}

func TestRestoreRoute(t *testing.T) {
	forEachBackend(t, func(t *testing.T, srv *server) {
		ann, bob, cat, dan, _, doc := historyDoc(t, srv, "t", "one\n")
		edit(t, ann, doc, "a1", "two\n")
		edit(t, bob, doc, "b1", "three\n")
		path := "/api/docs/" + doc + "/restore"

		cat.want(cat.do("POST", path, map[string]any{"version": 0}), 403, "forbidden", "a viewer restores")
		dan.want(dan.do("POST", path, map[string]any{"version": 0}), 404, "not_found", "a stranger restores")
		for _, bad := range []any{
			map[string]any{},
			map[string]any{"version": -1},
			map[string]any{"version": 3},
			map[string]any{"version": 0, "id": strings.Repeat("i", 65)},
			map[string]any{"version": 0, "id": "a\nb"},
			map[string]any{"version": 0, "extra": 1},
		} {
			ann.want(ann.do("POST", path, bad), 400, "bad_request", fmt.Sprintf("restore %v", bad))
		}
		if text, v := content(t, ann, doc, -1); v != 2 || text != "one\ntwo\nthree\n" {
			t.Fatalf("refused restores changed the document: %q at %d", text, v)
		}

		var out struct{ Version int64 }
		r := bob.do("POST", path, map[string]any{"version": 1, "id": "r1"})
		bob.want(r, 200, "", "restore version 1")
		r.json(t, &out)
		if text, v := content(t, ann, doc, -1); out.Version != 3 || v != 3 || text != "one\ntwo\n" {
			t.Fatalf("after the restore: %q at %d (answer %d)", text, v, out.Version)
		}
		// One op, by the restorer, made against version 2.
		r = ann.do("GET", "/api/docs/"+doc+"/ops?from=3", nil)
		var ops struct {
			Ops []struct {
				Version  int64
				ID, User string
				Op       ot.Op
			}
		}
		r.json(t, &ops)
		if len(ops.Ops) != 1 || ops.Ops[0].ID != "r1" || ops.Ops[0].Op.String() != `[8,-6]` {
			t.Errorf("the restore's op: %s", r.body)
		}
		// Restoring what the text is: nothing applied.
		r = ann.do("POST", path, map[string]any{"version": 3})
		r.json(t, &out)
		if out.Version != 3 {
			t.Errorf("a restore to the current text answered %d", out.Version)
		}
		// A re-send of r1 after another edit: applied once, not twice.
		edit(t, ann, doc, "a2", "four\n")
		r = bob.do("POST", path, map[string]any{"version": 1, "id": "r1"})
		bob.want(r, 200, "", "re-sent restore")
		r.json(t, &out)
		if text, v := content(t, ann, doc, -1); out.Version != 3 || v != 4 || text != "one\ntwo\nfour\n" {
			t.Errorf("after the re-send: %q at %d (answer %d)", text, v, out.Version)
		}
		// Back to the very beginning, from an owner, without an id.
		r = ann.do("POST", path, map[string]any{"version": 0})
		ann.want(r, 200, "", "restore version 0")
		r.json(t, &out)
		if text, v := content(t, ann, doc, -1); out.Version != 5 || v != 5 || text != "one\n" {
			t.Errorf("after restoring 0: %q at %d", text, v)
		}
	})
}

// TestRestoreLive: a restore reaches an editor's socket as an op by the
// restorer, while that editor keeps typing, and both end with one text.
func TestRestoreLive(t *testing.T) {
	forEachBackend(t, func(t *testing.T, srv *server) {
		ann, bob, _, _, ids, doc := historyDoc(t, srv, "t", "base\n")
		edit(t, ann, doc, "a1", "draft\n")

		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL(), "http")+"/api/socket",
			&websocket.DialOptions{HTTPClient: &http.Client{Jar: bob.http.Jar}, Subprotocols: []string{"tandem.v1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		read := func(types ...string) map[string]any {
			t.Helper()
			for {
				_, data, err := ws.Read(ctx)
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				msgs, _ := decodeFrame(data)
				for _, m := range msgs {
					for _, ty := range types {
						if m["type"] == ty {
							return m
						}
					}
				}
			}
		}
		read("hello")
		_ = ws.Write(ctx, websocket.MessageText, []byte(`{"type":"join","doc":"`+doc+`"}`))
		j := read("joined")
		text, version := j["content"].(string), int64(j["version"].(float64))
		if text != "base\ndraft\n" || version != 1 {
			t.Fatalf("joined = %v", j)
		}
		// Bob types at the start; ann restores version 0 meanwhile.
		_ = ws.Write(ctx, websocket.MessageText, []byte(`{"type":"op","doc":"`+doc+`","version":1,"id":"k1","op":["> ",11]}`))
		var out struct{ Version int64 }
		r := ann.do("POST", "/api/docs/"+doc+"/restore", map[string]any{"version": 0, "id": "restore-1"})
		ann.want(r, 200, "", "restore")
		r.json(t, &out)

		// Bob's client: text is what the server confirmed, pending his op
		// on top of it until its ack; ann's op, sequenced before it or
		// after, arrives as an op by her.
		mine, _ := ot.Parse([]byte(`["> ",11]`))
		pending := &mine
		for version < out.Version || pending != nil {
			m := read("ack", "op", "error")
			switch m["type"] {
			case "error":
				t.Fatalf("error: %v", m)
			case "ack":
				if text, err = ot.Apply(text, *pending); err != nil {
					t.Fatal(err)
				}
				pending, version = nil, int64(m["version"].(float64))
			case "op":
				if m["user"] != ids["ann"] || m["id"] != "restore-1" {
					t.Errorf("the restore came as %v", m)
				}
				data, _ := json.Marshal(m["op"])
				op, err := ot.Parse(data)
				if err != nil {
					t.Fatal(err)
				}
				if text, err = ot.Apply(text, op); err != nil {
					t.Fatal(err)
				}
				if pending != nil {
					// Sequenced first: ours goes after it.
					next, err := ot.TransformOver(*pending, op)
					if err != nil {
						t.Fatal(err)
					}
					pending = &next
				}
				version = int64(m["version"].(float64))
			}
		}
		server, v := content(t, ann, doc, -1)
		if v != 3 || server != text || !strings.HasSuffix(server, "base\n") || strings.Contains(server, "draft") {
			t.Errorf("server %q at %d, bob %q", server, v, text)
		}
	})
}
