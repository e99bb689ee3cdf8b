package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestNULRefused: U+0000 (which Postgres text cannot hold) in an id, an
// email, a title, content or an edit gets a clear client error on both
// stores, never a 500 or "unavailable", and a document whose editor tried to
// insert one keeps working past its next snapshot.
func TestNULRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, srv *server) {
		ann, _ := signup(t, srv, "ann@example.com")
		signup(t, srv, "bob@example.com")
		var d docBody
		r := ann.do("POST", "/api/docs", map[string]string{"title": "live", "content": "ab"})
		ann.want(r, 201, "", "create")
		r.json(t, &d)

		for _, path := range []string{"/api/docs/a%00b", "/api/docs/a%00b/content", "/api/docs/a%00b/ops", "/api/docs/a%00b/members", "/api/docs/%ff"} {
			ann.want(ann.do("GET", path, nil), 404, "not_found", "GET "+path)
		}
		ann.want(ann.do("PATCH", "/api/docs/a%00b", map[string]string{"title": "x"}), 404, "not_found", "rename a%00b")
		ann.want(ann.do("DELETE", "/api/docs/a%00b", nil), 404, "not_found", "delete a%00b")
		ann.want(ann.do("POST", "/api/docs/a%00b/ops", map[string]any{"version": 0, "id": "x", "op": []any{1}}), 404, "not_found", "submit to a%00b")
		ann.want(ann.do("DELETE", "/api/docs/"+d.ID+"/members/a%00b", nil), 404, "not_found", "remove member a%00b")
		ann.want(ann.do("DELETE", "/api/tokens/a%00b", nil), 404, "not_found", "delete token a%00b")
		ann.want(ann.do("POST", "/api/invitations/a%00b/accept", nil), 404, "not_found", "accept an invitation to a%00b")
		ann.want(ann.do("DELETE", "/api/invitations/a%00b", nil), 404, "not_found", "decline an invitation to a%00b")
		ann.want(ann.do("DELETE", "/api/docs/"+d.ID+"/invitations/a%00b", nil), 404, "not_found", "revoke the invitation of a%00b")

		anon := newClient(t, srv)
		for _, email := range []string{"ann@example.com\x00", "\x00", "ann\x00@example.com"} {
			anon.want(anon.do("POST", "/api/login", map[string]string{"email": email, "password": "correct horse"}), 401, "unauthorized", fmt.Sprintf("login as %q", email))
		}
		anon.want(anon.do("POST", "/api/signup", map[string]string{"email": "cat\x00@example.com", "password": "correct horse", "name": "Cat"}), 400, "bad_request", "signup with NUL in email")
		anon.want(anon.do("POST", "/api/signup", map[string]string{"email": "cat@example.com", "password": "correct horse", "name": "C\x00t"}), 400, "bad_request", "signup with NUL in name")
		ann.want(ann.do("POST", "/api/docs", map[string]string{"title": "x", "content": "a\x00b"}), 400, "bad_request", "create with NUL content")
		ann.want(ann.do("POST", "/api/docs", map[string]string{"title": "x\x00"}), 400, "bad_request", "create with NUL title")
		ann.want(ann.do("PATCH", "/api/docs/"+d.ID, map[string]string{"title": "x\x00"}), 400, "bad_request", "rename to NUL")
		ann.want(ann.do("POST", "/api/tokens", map[string]string{"name": "x\x00"}), 400, "bad_request", "token named with NUL")
		r = ann.do("PUT", "/api/docs/"+d.ID+"/members", map[string]string{"email": "bob@example.com\x00", "role": "editor"})
		if r.status != 400 && r.status != 404 {
			t.Errorf("share with NUL email: %d %s, want 400 or 404", r.status, r.body)
		}
		ann.want(ann.do("POST", "/api/docs/"+d.ID+"/ops", map[string]any{"version": 0, "id": "n1", "op": []any{1, "\x00", 1}}), 400, "invalid_op", "submit an op inserting NUL")
		ann.want(ann.do("POST", "/api/docs/"+d.ID+"/ops", `{"version":0,"id":"n1","op":[1,"\ud800",1]}`), 400, "invalid_op", "submit an op with a lone surrogate")
		ann.want(ann.do("POST", "/api/docs/"+d.ID+"/ops", `{"version":0,"id":"n1","op":[1,"x",1],"op":[2,"y"]}`), 400, "bad_request", "submit with two ops")

		// The socket: a join of a NUL id is not_found; an op inserting NUL is
		// invalid_op; and the room takes the next snapshot's worth of edits.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL(), "http")+"/api/socket",
			&websocket.DialOptions{HTTPClient: &http.Client{Jar: ann.http.Jar}, Subprotocols: []string{"tandem.v1"}})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer ws.CloseNow()
		read := nulReader(t, ctx, ws)
		send := func(msg string) {
			t.Helper()
			if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
				t.Fatalf("write: %v", err)
			}
		}
		read("hello")
		send(`{"type":"join","doc":"a\u0000b"}`)
		if e := read("error"); e["code"] != "not_found" {
			t.Fatalf("join a NUL id: %v, want not_found", e)
		}
		send(`{"type":"join","doc":"` + d.ID + `"}`)
		read("joined")
		send(`{"type":"op","doc":"` + d.ID + `","version":0,"id":"n1","op":[1,"\u0000",1]}`)
		if e := read("error"); e["code"] != "invalid_op" {
			t.Fatalf("op inserting NUL: %v, want invalid_op", e)
		}
		const n = 101 // past the default snapshot interval of 100
		for i := range n {
			send(fmt.Sprintf(`{"type":"op","doc":"%s","version":%d,"id":"g%d","op":[%d,"x"]}`, d.ID, i, i, 2+i))
			if a := read("ack"); a["version"] != float64(i+1) {
				t.Fatalf("ack %d = %v", i, a)
			}
		}
		var c struct{ Content string }
		ann.do("GET", "/api/docs/"+d.ID+"/content", nil).json(t, &c)
		if c.Content != "ab"+strings.Repeat("x", n) {
			t.Errorf("content = %q", c.Content)
		}
	})
}

// nulReader returns a function that reads messages until one of the wanted
// type, and returns it; any error message on the way fails the test unless
// an error is what it wants.
func nulReader(t *testing.T, ctx context.Context, ws *websocket.Conn) func(want string) map[string]any {
	var queue []map[string]any
	return func(want string) map[string]any {
		t.Helper()
		for {
			for len(queue) > 0 {
				m := queue[0]
				queue = queue[1:]
				if m["type"] == want {
					return m
				}
				if m["type"] == "error" {
					t.Fatalf("want %s, got error %v", want, m)
				}
			}
			_, data, err := ws.Read(ctx)
			if err != nil {
				t.Fatalf("read (waiting for %s): %v", want, err)
			}
			if len(data) > 0 && data[0] == '[' {
				var msgs []map[string]any
				if err := json.Unmarshal(data, &msgs); err != nil {
					t.Fatalf("frame %s: %v", data, err)
				}
				queue = append(queue, msgs...)
				continue
			}
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatalf("frame %s: %v", data, err)
			}
			queue = append(queue, m)
		}
	}
}
