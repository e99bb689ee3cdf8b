package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestSocketThroughServer opens a socket through the whole server stack
// (sessions, caller, cross-origin protection, logging and metrics wrappers)
// and edits through it, on each store.
func TestSocketThroughServer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, srv *server) {
		ann, _ := signup(t, srv, "ann@example.com")
		var d docBody
		r := ann.do("POST", "/api/docs", map[string]string{"title": "live", "content": "hi"})
		ann.want(r, 201, "", "create")
		r.json(t, &d)

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		httpc := &http.Client{Jar: ann.http.Jar}
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL(), "http")+"/api/socket",
			&websocket.DialOptions{HTTPClient: httpc, Subprotocols: []string{"tandem.v1"}})
		if err != nil {
			t.Fatalf("dial through the server: %v", err)
		}
		defer ws.CloseNow()
		read := func(want string) map[string]any {
			t.Helper()
			for {
				_, data, err := ws.Read(ctx)
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				var msgs []map[string]any
				if data[0] == '[' {
					_ = json.Unmarshal(data, &msgs)
				} else {
					var m map[string]any
					_ = json.Unmarshal(data, &m)
					msgs = append(msgs, m)
				}
				for _, m := range msgs {
					if m["type"] == want {
						return m
					}
				}
			}
		}
		read("hello")
		_ = ws.Write(ctx, websocket.MessageText, []byte(`{"type":"join","doc":"`+d.ID+`"}`))
		if j := read("joined"); j["content"] != "hi" {
			t.Fatalf("joined = %v", j)
		}
		_ = ws.Write(ctx, websocket.MessageText, []byte(`{"type":"op","doc":"`+d.ID+`","version":0,"id":"o1","op":[2," there"]}`))
		if a := read("ack"); a["version"] != float64(1) {
			t.Fatalf("ack = %v", a)
		}
		r = ann.do("GET", "/api/docs/"+d.ID+"/content", nil)
		var c struct{ Content string }
		r.json(t, &c)
		if c.Content != "hi there" {
			t.Errorf("content = %q", c.Content)
		}
		m := string(ann.do("GET", "/metrics", nil).body)
		for _, want := range []string{"tandem_rooms_open 1", "tandem_connections_open 1", "tandem_ops_sequenced_total 1", "tandem_commit_batch_ops_count 1", "tandem_ack_latency_seconds_count 1"} {
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %q", want)
			}
		}
	})
}
