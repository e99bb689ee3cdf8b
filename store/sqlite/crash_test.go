package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"tandem/ot"
	"tandem/store"
	"tandem/store/sqlite"
)

// TestCrashKeepsAcknowledgedOps runs a child process that appends batches
// and reports each one the store acknowledged, kills it with SIGKILL in
// mid-stream, and checks after each kill that the database opens cleanly and
// holds every acknowledged op, in one gap-free history.
func TestCrashKeepsAcknowledgedOps(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	ctx := context.Background()
	db := openDir(t, dir, 10)
	u, err := db.CreateUser(ctx, store.NewUser{Email: "crash@example.com", Name: "Crash", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := db.CreateDocument(ctx, store.NewDocument{OwnerID: u.ID, Title: "crash", Content: ""})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	r := rand.New(rand.NewPCG(3, 4))
	for round := range 6 {
		acked := runAndKill(t, dir, d.ID, u.ID, round, 10+r.IntN(60), time.Duration(r.IntN(3000))*time.Microsecond)

		db, err := sqlite.Open(ctx, dir, sqlite.Config{SnapshotEvery: 10})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		var check string
		if err := db.SQLDB().QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
			t.Fatalf("round %d: integrity_check = %q, %v", round, check, err)
		}
		doc, c, err := db.Load(ctx, d.ID)
		if err != nil {
			t.Fatalf("round %d: load: %v", round, err)
		}
		if doc.Version < acked {
			t.Fatalf("round %d: acknowledged version %d, but the document is at %d", round, acked, doc.Version)
		}
		recs, err := db.Ops(ctx, d.ID, 1, doc.Version, store.Page{})
		if err != nil || int64(len(recs)) != doc.Version {
			t.Fatalf("round %d: history has %d ops for version %d (%v)", round, len(recs), doc.Version, err)
		}
		text := ""
		for i, rec := range recs {
			if rec.Version != int64(i+1) {
				t.Fatalf("round %d: gap at %d", round, i+1)
			}
			if text, err = ot.Apply(text, rec.Op); err != nil {
				t.Fatalf("round %d: version %d does not apply: %v", round, rec.Version, err)
			}
		}
		if text != c.Text {
			t.Fatalf("round %d: loaded content differs from the replayed history", round)
		}
		t.Logf("round %d: killed after %d acknowledged, %d stored", round, acked, doc.Version)
		db.Close()
	}
}

// runAndKill starts the child, waits for acks acknowledgements, lets it run
// on for a moment, kills it, and returns the last version it acknowledged.
func runAndKill(t *testing.T, dir, docID, userID string, round, acks int, grace time.Duration) int64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TANDEM_CRASH_DIR="+dir, "TANDEM_CRASH_DOC="+docID,
		"TANDEM_CRASH_USER="+userID, "TANDEM_CRASH_ROUND="+strconv.Itoa(round))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan int64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				lines <- n
			}
		}
	}()
	var last int64
	deadline := time.After(60 * time.Second)
	for seen := 0; seen < acks; {
		select {
		case v, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("round %d: child exited after %d acks", round, seen)
			}
			last, seen = v, seen+1
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("round %d: child too slow", round)
		}
	}
	time.Sleep(grace)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Acks printed before the kill still count.
	for v := range lines {
		last = v
	}
	cmd.Wait()
	return last
}

// TestCrashChild is the child of TestCrashKeepsAcknowledgedOps: it appends
// batches of 1 to 16 ops forever, printing "ack V" after each that the store
// acknowledged. It does nothing unless run by the parent.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("TANDEM_CRASH_DIR")
	if dir == "" {
		t.Skip("run by TestCrashKeepsAcknowledgedOps")
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, dir, sqlite.Config{SnapshotEvery: 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		os.Exit(3)
	}
	docID, userID, round := os.Getenv("TANDEM_CRASH_DOC"), os.Getenv("TANDEM_CRASH_USER"), os.Getenv("TANDEM_CRASH_ROUND")
	doc, c, err := db.Load(ctx, docID)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: load:", err)
		os.Exit(3)
	}
	head, text := doc.Version, c.Text
	w := bufio.NewWriter(os.Stdout)
	for seq := 0; ; seq++ {
		batch := make([]store.NewOp, 1+seq%16)
		for i := range batch {
			n := utf8.RuneCountInString(text)
			op := ot.Insertion(n, n/2, "é")
			if n > 40 && i%3 == 0 {
				op = ot.Deletion(n, n/3, 2)
			}
			text, _ = ot.Apply(text, op)
			batch[i] = store.NewOp{ID: fmt.Sprintf("r%s-%d-%d", round, seq, i), UserID: userID, Op: op}
		}
		if err := db.AppendOps(ctx, docID, head, batch); err != nil {
			fmt.Fprintln(os.Stderr, "child: append:", err)
			os.Exit(3)
		}
		head += int64(len(batch))
		fmt.Fprintf(w, "ack %d\n", head)
		w.Flush()
	}
}
