package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"tandem/store/postgres/pgtest"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		// A run that compare started in a process of its own (runApart):
		// the test binary stands in for tandem-bench.
		os.Exit(run1(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(pgtest.Main(m))
}

func TestCheckConvergence(t *testing.T) {
	docs := map[string]docState{
		"d1": {text: "abc", version: 2, stored: []storedOp{{1, "e0-1"}, {2, "e1-1"}}},
	}
	good := []final{{name: "e0", doc: "d1", full: true, text: "abc", version: 2}, {name: "e1", doc: "d1", length: 3, version: 2}}
	acked := map[string]int64{"e0-1": 1, "e1-1": 2}
	if p := checkConvergence(docs, good, acked); len(p) != 0 {
		t.Fatalf("a converged run has problems: %v", p)
	}
	cases := []struct {
		name  string
		docs  map[string]docState
		eds   []final
		acked map[string]int64
		want  string
	}{
		{"diverged text", docs, []final{{name: "e0", doc: "d1", full: true, text: "abd", length: 3, version: 2}}, acked, "e0 diverged"},
		{"behind", docs, []final{{name: "e0", doc: "d1", full: true, text: "abc", version: 1}}, acked, "e0 diverged"},
		{"light, diverged length", docs, []final{{name: "e1", doc: "d1", length: 4, version: 2}}, acked, "e1 (light) diverged: version 2, 4 code points"},
		{"light, behind", docs, []final{{name: "e1", doc: "d1", length: 3, version: 1}}, acked, "e1 (light) diverged"},
		{"acked op lost", docs, good, map[string]int64{"e0-1": 1, "e1-1": 2, "e0-2": 3}, "e0-2 acked as version 3 but not stored"},
		{"acked at another version", docs, good, map[string]int64{"e0-1": 2, "e1-1": 2}, "e0-1 acked as version 2, stored as 1"},
		{"stored twice", map[string]docState{"d1": {text: "abc", version: 2, stored: []storedOp{{1, "e0-1"}, {2, "e0-1"}}}}, good, map[string]int64{"e0-1": 1}, "stored twice"},
		{"stored, never acked", docs, good, map[string]int64{"e0-1": 1}, "2 ops stored, 1 acknowledged"},
		{"history shorter than version", map[string]docState{"d1": {text: "abc", version: 3, stored: []storedOp{{1, "e0-1"}, {2, "e1-1"}}}}, nil, acked, "2 ops stored for version 3"},
	}
	for _, tc := range cases {
		p := checkConvergence(tc.docs, tc.eds, tc.acked)
		if !strings.Contains(strings.Join(p, "\n"), tc.want) {
			t.Errorf("%s: problems %v lack %q", tc.name, p, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := config{url: "http://127.0.0.1:8080", docs: 1, editors: 4, full: 20, duration: time.Second, connectPar: 1}
	if err := ok.validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []func(c *config){
		func(c *config) { c.url = "http://example.com:8080" },
		func(c *config) { c.url = "ftp://127.0.0.1" },
		func(c *config) { c.docs = 0 },
		func(c *config) { c.full = 0 },
		func(c *config) { c.editors, c.idle = 0, 0 },
		func(c *config) { c.rate = -1 },
		func(c *config) { c.duration = 0 },
	} {
		c := ok
		bad(&c)
		if c.validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	remote := ok
	remote.url, remote.allowRemote = "http://example.com:8080", true
	if remote.validate() != nil {
		t.Error("--allow-remote did not allow a remote server")
	}

	// Lists of nodes.
	for _, good := range []string{
		"http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083",
		"http://127.0.0.1:8081, http://localhost:8081/ ,https://[::1]:8443",
	} {
		c := ok
		c.url = good
		if err := c.validate(); err != nil {
			t.Errorf("%q refused: %v", good, err)
		}
	}
	for _, bad := range []struct{ list, want string }{
		{"http://127.0.0.1:8081,http://127.0.0.1:8081", "twice"},
		{"http://127.0.0.1:8081,http://127.0.0.1:8081/", "twice"},
		{"http://127.0.0.1:8081,HTTP://127.0.0.1:8081", "twice"},
		{"http://127.0.0.1,http://127.0.0.1:80", "twice"},
		{"http://127.0.0.1:8081,,http://127.0.0.1:8082", "empty"},
		{"http://127.0.0.1:8081,", "empty"},
		{",http://127.0.0.1:8081", "empty"},
		{"", "empty"},
		{"http://127.0.0.1:8081, ", "empty"},
		{"http://127.0.0.1:8081,ftp://127.0.0.1:8082", "want http(s)"},
		{"http://127.0.0.1:8081,127.0.0.1:8082", "want http(s)"},
		{"http://127.0.0.1:8081,http://example.com:8082", "not loopback"},
	} {
		c := ok
		c.url = bad.list
		if err := c.validate(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: error %v, want one about %q", bad.list, err, bad.want)
		}
	}
	remotes := ok
	remotes.url, remotes.allowRemote = "http://127.0.0.1:8081,http://example.com:8082,http://10.0.0.3:8083", true
	if err := remotes.validate(); err != nil {
		t.Errorf("--allow-remote did not allow a list with remote nodes: %v", err)
	}
	nodes, err := parseNodes("http://127.0.0.1:8081/, http://localhost:8082")
	if err != nil || strings.Join(nodes, " ") != "http://127.0.0.1:8081 http://localhost:8082" {
		t.Errorf("parseNodes = %q, %v", nodes, err)
	}
}

// TestSocketNode checks that each document's sockets are dealt over the
// nodes in turn: editors first, then the document's idle sockets.
func TestSocketNode(t *testing.T) {
	c := config{docs: 2, editors: 3, idle: 5}
	// Sockets: editors e0-e2 (document 0), e3-e5 (document 1), then idle
	// i0-i4 on documents 0, 1, 0, 1, 0.
	want := []int{0, 1, 0, 0, 1, 0, 1, 1, 0, 0, 1}
	for n, w := range want {
		if got := c.socketNode(n, 2); got != w {
			t.Errorf("socket %d on node %d, want %d", n, got, w)
		}
	}
	for n := range c.docs*c.editors + c.idle {
		if got := c.socketNode(n, 1); got != 0 {
			t.Errorf("one node: socket %d on node %d", n, got)
		}
	}
	// Every document with at least as many editors as nodes has editors on
	// every node.
	c = config{docs: 3, editors: 4, idle: 0}
	for d := range c.docs {
		on := map[int]bool{}
		for k := range c.editors {
			on[c.socketNode(d*c.editors+k, 3)] = true
		}
		if len(on) != 3 {
			t.Errorf("document %d has editors on nodes %v only", d, on)
		}
	}
}

// TestNodesAgree checks that a node serving other content than the first,
// or failing to serve it, is reported.
func TestNodesAgree(t *testing.T) {
	serve := func(version int64, content string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/api/docs/d1/content" {
				http.NotFound(w, r)
				return
			}
			fmt.Fprintf(w, `{"version":%d,"content":%q}`, version, content)
		}))
		t.Cleanup(s.Close)
		return s
	}
	first, same, behind, other := serve(3, "abc"), serve(3, "abc"), serve(2, "ab"), serve(3, "abd")
	a := newAPI(first.URL)
	ctx := context.Background()
	if p := nodesAgree(ctx, a, []string{first.URL, same.URL}, "d1", "abc", 3); len(p) != 0 {
		t.Errorf("agreeing nodes: %v", p)
	}
	if p := nodesAgree(ctx, a, []string{first.URL}, "d1", "abc", 3); len(p) != 0 {
		t.Errorf("one node: %v", p)
	}
	p := nodesAgree(ctx, a, []string{first.URL, same.URL, behind.URL, other.URL}, "d1", "abc", 3)
	if len(p) != 2 || !strings.Contains(p[0], behind.URL+" serves document d1 at version 2") || !strings.Contains(p[1], other.URL+" serves document d1 at version 3, 3 bytes") {
		t.Errorf("disagreeing nodes: %q", p)
	}
	p = nodesAgree(ctx, a, []string{first.URL, same.URL}, "d2", "", 0)
	if len(p) != 1 || !strings.Contains(p[0], "404") {
		t.Errorf("a node that cannot serve the document: %q", p)
	}
}

// TestSmoke runs the real server binary on each store and a short benchmark
// against it: typing editors and idle sockets must converge with every
// acknowledged op stored exactly once.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	bin := buildServer(t)
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			base := startServer(t, bin, kind)
			// A two-node list: the SAME server under two loopback spellings.
			// Two servers on one database cannot share a document yet: the
			// node that commits second finds the document at another version
			// and fails the room ("document failed; reconnect"), so two
			// in-process servers would not converge until nodes share
			// documents. This still checks the spreading, the per-node counts
			// and the every-node content check end to end.
			local, ok := strings.CutPrefix(base, "http://127.0.0.1:")
			if !ok {
				t.Fatalf("server base %q is not on 127.0.0.1", base)
			}
			pair := base + ",http://localhost:" + local
			for _, c := range []config{
				{url: base, docs: 2, editors: 3, full: 1, rate: 0, idle: 4, duration: 1500 * time.Millisecond, warmup: 300 * time.Millisecond, seed: 1, connectPar: 8},
				{url: base, docs: 1, editors: 6, full: 2, rate: 20, duration: 1500 * time.Millisecond, warmup: 300 * time.Millisecond, seed: 2, connectPar: 8},
				{url: pair, docs: 2, editors: 3, full: 20, rate: 0, idle: 3, duration: 1500 * time.Millisecond, warmup: 300 * time.Millisecond, seed: 3, connectPar: 8},
			} {
				if err := c.validate(); err != nil {
					t.Fatalf("config %+v: %v", c, err)
				}
				res, err := bench(context.Background(), c, io.Discard)
				if err != nil {
					t.Fatalf("bench %+v: %v (%+v)", c, err, res)
				}
				if !res.Converged || res.AckedOps == 0 || res.Ack.Count == 0 || res.Remote.Count == 0 {
					t.Fatalf("result %+v", res)
				}
				if res.Server == nil || res.Server.Cores <= 0 || res.Generator.Cores <= 0 {
					t.Fatalf("CPU not measured: server %+v, generator %+v", res.Server, res.Generator)
				}
				// Editors 0 and 2 of each document on the first node, editor 1
				// on the second; idle sockets 0 and 1 (each its document's
				// fourth socket) on the second, idle socket 2 on the first.
				wantNodes := []nodeLoad{{base, c.docs * c.editors, c.idle}}
				if c.url == pair {
					wantNodes = []nodeLoad{{base, 4, 1}, {"http://localhost:" + local, 2, 2}}
				}
				if res.Nodes != len(wantNodes) || !slices.Equal(res.PerNode, wantNodes) {
					t.Fatalf("nodes %d %+v, want %+v", res.Nodes, res.PerNode, wantNodes)
				}
				t.Logf("%d docs × %d editors on %d nodes: %.0f acked ops/s, p99 ack %.2f ms, p99 remote %.2f ms",
					c.docs, c.editors, res.Nodes, res.OpsPerSec, res.Ack.P99, res.Remote.P99)
			}
			// The comparison table, briefly: two columns (the same server),
			// two scenarios, two runs each.
			var table, progress strings.Builder
			if code := run1(context.Background(), []string{"compare", "--server", "A=" + base, "--server", "B=" + base,
				"--only", "typing,closed-4", "--skip", "B:typing", "--runs", "2", "--duration", "700ms", "--warmup", "200ms"}, &table, &progress); code != 0 {
				t.Fatalf("compare: exit %d\n%s", code, progress.String())
			}
			lines := strings.Split(strings.TrimSpace(table.String()), "\n")
			if len(lines) != 4 || !strings.Contains(lines[2], "of 50 ops/s") || !strings.Contains(lines[2], "not run") ||
				strings.Count(lines[3], "ops/s** (ack p99") != 2 || strings.Contains(table.String(), "converge") {
				t.Fatalf("compare table:\n%s\nprogress:\n%s", table.String(), progress.String())
			}
		})
	}
}

// TestLightEditors runs a crowded room where most editors keep only the
// text's length, on a server that compacts the queue of any socket more
// than 2 messages behind, however young they are (--behind-after 0; it
// still composes nothing for an editor with an op in flight): light editors take plain and composed ops, with
// and without edits pending (the history path), and every op they take
// must fit the length they track (an editor fails at once otherwise); at
// the end their lengths and versions must be the server's.
func TestLightEditors(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	base := startServer(t, buildServer(t), "sqlite", "--out-queue", "2", "--behind-after", "0", "--coalesce", "0")
	var composed int64
	for _, c := range []config{
		{url: base, docs: 1, editors: 12, full: 2, rate: 50, duration: 2 * time.Second, warmup: 300 * time.Millisecond, seed: 4, connectPar: 8},
		{url: base, docs: 2, editors: 6, full: 1, rate: 0, duration: 1500 * time.Millisecond, warmup: 300 * time.Millisecond, seed: 5, connectPar: 8},
	} {
		if err := c.validate(); err != nil {
			t.Fatal(err)
		}
		res, err := bench(context.Background(), c, io.Discard)
		if err != nil {
			t.Fatalf("bench %+v: %v (%+v)", c, err, res)
		}
		if !res.Converged || res.Full != c.full || res.AckedOps == 0 || res.Remote.Count == 0 {
			t.Fatalf("result %+v", res)
		}
		t.Logf("%d docs × %d editors (%d full): %.0f acked ops/s, p99 remote %.2f ms, %d composed ops",
			c.docs, c.editors, c.full, res.OpsPerSec, res.Remote.P99, res.Composed)
		composed += res.Composed
	}
	if composed == 0 { // the closed loop, whose queues outrun 4 messages, had hundreds
		t.Fatal("no editor received a composed op: the compacting path went untested")
	}
}

// buildServer builds the tandem binary for the test.
func buildServer(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "tandem")
	if out, err := exec.Command("go", "build", "-o", bin, "../tandem").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// startServer runs the server on a fresh store of kind (sqlite or
// postgres), with limits that let a benchmark sign up and type, and
// returns its base URL.
func startServer(t *testing.T, bin, kind string, extra ...string) string {
	args := []string{"serve", "--addr", "127.0.0.1:0", "--migrate", "--log-level", "warn",
		"--login-rate-ip", "100000", "--argon2-memory-kib", "8192", "--ops-per-second", "100000", "--ops-burst", "100000"}
	if kind == "sqlite" {
		args = append(args, "--data-dir", t.TempDir())
	} else {
		args = append(args, "--database-url", pgtest.Empty(t))
	}
	cmd := exec.Command(bin, append(args, extra...)...)
	cmd.Env = append(os.Environ(), "TANDEM_DATABASE_URL=")
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "tandem: serving on ")
	if !ok {
		t.Fatalf("server said %q", line)
	}
	return base
}
