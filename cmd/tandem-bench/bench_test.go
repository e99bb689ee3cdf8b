package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tandem/store/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestCheckConvergence(t *testing.T) {
	docs := map[string]docState{
		"d1": {text: "abc", version: 2, stored: []storedOp{{1, "e0-1"}, {2, "e1-1"}}},
	}
	good := []*editor{{name: "e0", doc: "d1", text: "abc", version: 2}, {name: "e1", doc: "d1", text: "abc", version: 2}}
	acked := map[string]int64{"e0-1": 1, "e1-1": 2}
	if p := checkConvergence(docs, good, acked); len(p) != 0 {
		t.Fatalf("a converged run has problems: %v", p)
	}
	cases := []struct {
		name  string
		docs  map[string]docState
		eds   []*editor
		acked map[string]int64
		want  string
	}{
		{"diverged text", docs, []*editor{{name: "e0", doc: "d1", text: "abd", version: 2}}, acked, "e0 diverged"},
		{"behind", docs, []*editor{{name: "e0", doc: "d1", text: "abc", version: 1}}, acked, "e0 diverged"},
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
	ok := config{url: "http://127.0.0.1:8080", docs: 1, editors: 4, duration: time.Second, connectPar: 1}
	if err := ok.validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []func(c *config){
		func(c *config) { c.url = "http://example.com:8080" },
		func(c *config) { c.url = "ftp://127.0.0.1" },
		func(c *config) { c.docs = 0 },
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
}

// TestSmoke runs the real server binary on each store and a short benchmark
// against it: typing editors and idle sockets must converge with every
// acknowledged op stored exactly once.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	bin := filepath.Join(t.TempDir(), "tandem")
	if out, err := exec.Command("go", "build", "-o", bin, "../tandem").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			args := []string{"serve", "--addr", "127.0.0.1:0", "--migrate", "--log-level", "warn",
				"--login-rate-ip", "100000", "--argon2-memory-kib", "8192", "--ops-per-second", "100000", "--ops-burst", "100000"}
			if kind == "sqlite" {
				args = append(args, "--data-dir", t.TempDir())
			} else {
				args = append(args, "--database-url", pgtest.Empty(t))
			}
			cmd := exec.Command(bin, args...)
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
			for _, c := range []config{
				{url: base, docs: 2, editors: 3, rate: 0, idle: 4, duration: 1500 * time.Millisecond, warmup: 300 * time.Millisecond, seed: 1, connectPar: 8},
				{url: base, docs: 1, editors: 6, rate: 20, duration: 1500 * time.Millisecond, warmup: 300 * time.Millisecond, seed: 2, connectPar: 8},
			} {
				res, err := bench(context.Background(), c, io.Discard)
				if err != nil {
					t.Fatalf("bench %+v: %v (%+v)", c, err, res)
				}
				if !res.Converged || res.AckedOps == 0 || res.Ack.Count == 0 || res.Remote.Count == 0 {
					t.Fatalf("result %+v", res)
				}
				t.Logf("%d docs × %d editors: %.0f acked ops/s, p99 ack %.2f ms, p99 remote %.2f ms",
					c.docs, c.editors, res.OpsPerSec, res.Ack.P99, res.Remote.P99)
			}
		})
	}
}
