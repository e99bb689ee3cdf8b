//go:build linux

package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// smallDisk mounts a tmpfs of size bytes for the test, or skips it where
// mounting is not allowed (it needs root, or CAP_SYS_ADMIN).
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file until the disk is full, and returns a function that
// frees the space again.
func fill(t *testing.T, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill: %v", err)
			}
			break
		}
	}
	for size := 4096; size > 0; size /= 2 { // the last partial pages
		for {
			if _, err := f.Write(chunk[:size]); err != nil {
				break
			}
		}
	}
	f.Close()
	return func() {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSQLiteDiskFull fills the embedded store's disk for real. While every
// commit fails with "disk is full": /readyz says 503, API tokens still work
// (looking one up only reads), and a session, whose idle deadline each
// request rewrites, gets a clean JSON 503 before the handler runs, never a
// 500 with the handler's answer appended. Freed, the disk is used again.
func TestSQLiteDiskFull(t *testing.T) {
	disk := smallDisk(t, "16m") // unmounted last: after the server stops
	cfg := testConfig(t, "sqlite")
	cfg.db.dataDir = filepath.Join(disk, "data")
	logs := &logBuffer{t: t}
	srv := startServerLogging(t, cfg, logs)
	var free func()
	t.Cleanup(func() { // runs before the server's shutdown
		if free != nil {
			free()
		}
	})

	ann, _ := signup(t, srv, "ann@example.com")
	prog, _ := tokenClient(t, srv, ann)
	var d docBody
	r := prog.do("POST", "/api/docs", map[string]string{"title": "kept", "content": "a"})
	prog.want(r, 201, "", "create a document")
	r.json(t, &d)
	prog.want(prog.do("POST", "/api/docs/"+d.ID+"/ops", map[string]any{"version": 0, "id": "before", "op": []any{1, "b"}}), 200, "", "edit before the disk fills")
	c := newClient(t, srv)
	c.want(c.do("GET", "/readyz", nil), 200, "", "ready")

	free = fill(t, disk)
	// The last commit succeeded: it stands for a moment, then readiness
	// checks with a write of its own.
	eventually(t, "readyz to see the full disk", func() bool {
		r := c.do("GET", "/readyz", nil)
		return r.status == 503 && strings.Contains(string(r.body), "cannot commit")
	})
	wantUnavailable(t, c.do("GET", "/readyz", nil), "readyz on a full disk")
	prog.want(prog.do("GET", "/api/me", nil), 200, "", "bearer token on a full disk")
	wantUnavailable(t, prog.do("POST", "/api/docs", map[string]string{"title": "lost", "content": strings.Repeat("x", 64<<10)}), "a document created on a full disk")
	if r := prog.do("POST", "/api/docs/"+d.ID+"/ops", map[string]any{"version": 1, "id": "during", "op": []any{2, "X"}}); r.status == 200 {
		t.Errorf("an edit was acknowledged on a full disk: %s", r.body)
	}
	r = ann.do("GET", "/api/me", nil)
	wantUnavailable(t, r, "session on a full disk")
	if bytes.Contains(r.body, []byte(`"user"`)) {
		t.Errorf("the handler ran after the session could not be saved: %s", r.body)
	}

	free()
	free = nil
	eventually(t, "readyz to recover", func() bool { return c.do("GET", "/readyz", nil).status == 200 })
	ann.want(ann.do("GET", "/api/me", nil), 200, "", "session after the disk is freed")
	prog.want(prog.do("POST", "/api/docs/"+d.ID+"/ops", map[string]any{"version": 1, "id": "after", "op": []any{2, "c"}}), 200, "", "edit after the disk is freed")
	r = prog.do("GET", "/api/docs/"+d.ID+"/content", nil)
	var content struct{ Content string }
	r.json(t, &content)
	if content.Content != "abc" {
		t.Errorf("content = %q, want abc", content.Content)
	}
	if n, m := logs.count("not ready"), logs.count("ready again"); n != 1 || m != 1 {
		t.Errorf("logged %d \"not ready\" and %d \"ready again\"; want one of each", n, m)
	}
}
