package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tandem/ot"
	"tandem/store/postgres/pgtest"
)

// TestShareDBConnClose checks that closing a connection lets its reader
// go though nobody takes its messages: a server that answers the
// handshake and then sends more than the reader's channel holds, and a
// client that never reads them. Before close had a way to stop the
// reader, it waited to hand over a message for the rest of the process,
// holding them all: in a compare run, gigabytes after ShareDB's failed
// runs.
func TestShareDBConnClose(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx := r.Context()
		if _, _, err := ws.Read(ctx); err != nil {
			return
		}
		_ = ws.Write(ctx, websocket.MessageText, []byte(`{"a":"hs","id":"src1"}`))
		for i := 0; ; i++ {
			if err := ws.Write(ctx, websocket.MessageText, []byte(`{"a":"op","v":1}`)); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	c, err := sdbDial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), "c")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(c.msgs) < cap(c.msgs) {
		if time.Now().After(deadline) {
			t.Fatalf("the reader's channel holds %d of %d", len(c.msgs), cap(c.msgs))
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.close()
	select {
	case <-c.ended: // the reader returned
	case <-time.After(10 * time.Second):
		t.Fatal("the reader still waits to hand over a message after close")
	}
}

// TestShareDBJSON0 converts ops to json0 components and back, with
// characters that take two UTF-16 units.
func TestShareDBJSON0(t *testing.T) {
	base := "a😀b中c"
	for _, tc := range []struct {
		name string
		op   ot.Op
		want string // the components' JSON
	}{
		{"insert after an emoji", ot.Insertion(5, 2, "é"), `[{"p":["text",3],"si":"é"}]`},
		{"delete an emoji", ot.Deletion(5, 1, 1), `[{"p":["text",1],"sd":"😀"}]`},
		{"insert at the end", ot.Insertion(5, 5, "😀"), `[{"p":["text",6],"si":"😀"}]`},
		{"several", new(ot.Builder).Retain(1).Delete(1).Insert("x").Retain(1).Delete(1).Insert("yz").Retain(1).Op(),
			`[{"p":["text",1],"si":"x"},{"p":["text",2],"sd":"😀"},{"p":["text",3],"si":"yz"},{"p":["text",5],"sd":"中"}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			comps, err := toJSON0(base, tc.op)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := jsonString(comps)
			if got != tc.want {
				t.Fatalf("toJSON0 = %s, want %s", got, tc.want)
			}
			// Applied in turn, the components make what the op makes.
			want, _ := ot.Apply(base, tc.op)
			text := base
			for _, c := range reparse(t, got) {
				op, err := fromJSON0(text, c)
				if err != nil {
					t.Fatal(err)
				}
				if text, err = ot.Apply(text, op); err != nil {
					t.Fatal(err)
				}
			}
			if text != want {
				t.Fatalf("components make %q, the op %q", text, want)
			}
		})
	}
	for _, bad := range []string{
		`{"p":["text",2],"si":"x"}`,   // inside the emoji
		`{"p":["text",8],"si":"x"}`,   // past the end
		`{"p":["text",0],"sd":"b"}`,   // not the text there
		`{"p":["title",0],"si":"x"}`,  // another field
		`{"p":["text",0.5],"si":"x"}`, // not an offset
		`{"p":["text",0],"si":"x","sd":"a"}`,
	} {
		if _, err := fromJSON0(base, reparse(t, "["+bad+"]")[0]); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestShareDB runs the ShareDB server of cmd/tandem-bench/sharedb, in
// memory and on Postgres, and a short benchmark against it: the editors
// must converge with every acknowledged op stored exactly once. It needs
// Node and the project's packages; without them it skips, except under
// CI=true, where it installs them (npm ci) or fails.
func TestShareDB(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the ShareDB server")
	}
	dir := shareDBProject(t)
	for _, kind := range []string{"memory", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			args := []string{"server.js", "--port", "0"}
			if kind == "postgres" {
				db := pgtest.Empty(t)
				cmd := exec.Command("node", "server.js", "--init", "--database-url", db)
				cmd.Dir = dir
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("node server.js --init: %v\n%s", err, out)
				}
				args = append(args, "--db", "postgres", "--database-url", db)
			}
			url := startShareDB(t, dir, args...)
			if rss, err := newAPI(sharedbHTTP(url)).rss(context.Background()); err != nil || rss <= 0 {
				t.Errorf("GET /metrics: resident memory %v, %v", rss, err)
			}
			for _, c := range []config{
				{target: "sharedb", url: url, docs: 1, editors: 4, duration: 2 * time.Second, warmup: 300 * time.Millisecond, seed: 1, connectPar: 8},
				{target: "sharedb", url: url, docs: 2, editors: 5, rate: 20, idle: 2, duration: 1500 * time.Millisecond, warmup: 300 * time.Millisecond, seed: 2, connectPar: 8},
			} {
				if err := c.validate(); err != nil {
					t.Fatalf("config %+v: %v", c, err)
				}
				res, err := benchShareDB(context.Background(), c, io.Discard)
				if err != nil {
					t.Fatalf("bench %+v: %v (%+v)", c, err, res)
				}
				if !res.Converged || res.AckedOps == 0 || res.Ack.Count == 0 || res.Remote.Count == 0 || res.FinalOps < res.AckedOps {
					t.Fatalf("result %+v", res)
				}
				if res.Server == nil || res.Server.Cores <= 0 {
					t.Errorf("the server's CPU was not read from its /metrics: %+v", res.Server)
				}
				t.Logf("%d docs × %d editors: %.0f acked ops/s, p99 ack %.2f ms, p99 remote %.2f ms, %d edits stored",
					c.docs, c.editors, res.OpsPerSec, res.Ack.P99, res.Remote.P99, res.FinalOps)
			}
		})
	}
}

// shareDBProject returns the ShareDB project's directory once node and its
// packages are there.
func shareDBProject(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("sharedb")
	if err != nil {
		t.Fatal(err)
	}
	ci := os.Getenv("CI") == "true"
	if _, err := exec.LookPath("node"); err != nil {
		if ci {
			t.Fatal("node is required under CI=true")
		}
		t.Skip("node is not installed: the ShareDB comparison needs Node 20+")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err == nil {
		return dir
	}
	if !ci {
		t.Skip("cmd/tandem-bench/sharedb/node_modules is missing: run npm ci there to test against ShareDB")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Fatal("cmd/tandem-bench/sharedb/node_modules is missing and npm is not installed (required under CI=true)")
	}
	cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	return dir
}

// startShareDB runs node with args in dir until the test ends and returns
// the URL it serves on.
func startShareDB(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("node", args...)
	cmd.Dir = dir
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "sharedb: serving on ")
	if !ok {
		t.Fatalf("server said %q", line)
	}
	url, _, _ := strings.Cut(rest, " ")
	return url
}

// TestShareDBValidate checks --target and the URLs it takes.
func TestShareDBValidate(t *testing.T) {
	ok := config{target: "sharedb", url: "ws://127.0.0.1:18090", docs: 1, editors: 4, duration: time.Second, connectPar: 1}
	for _, good := range []string{"ws://127.0.0.1:18090", "http://127.0.0.1:18090", "ws://localhost:1/"} {
		c := ok
		c.url = good
		if err := c.validate(); err != nil {
			t.Errorf("%q refused: %v", good, err)
		}
	}
	for _, bad := range []struct{ target, url, want string }{
		{"sharedb", "ws://127.0.0.1:1,ws://127.0.0.1:2", "one ws://"},
		{"sharedb", "ftp://127.0.0.1:1", "one ws://"},
		{"sharedb", "ws://example.com:1", "not loopback"},
		{"yjs", "ws://127.0.0.1:1", "want tandem or sharedb"},
		{"tandem", "ws://127.0.0.1:1", "want http(s)"},
	} {
		c := ok
		c.target, c.url = bad.target, bad.url
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("--target %s --url %s: error %v, want one about %q", bad.target, bad.url, err, bad.want)
		}
	}
	if u, err := sharedbURL("https://127.0.0.1:8443/x"); err != nil || u != "wss://127.0.0.1:8443/x" {
		t.Errorf("sharedbURL = %q, %v", u, err)
	}
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func reparse(t *testing.T, s string) []json0Comp {
	t.Helper()
	var comps []json0Comp
	if err := json.Unmarshal([]byte(s), &comps); err != nil {
		t.Fatal(err)
	}
	return comps
}
