package collab

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tandem/ot"
	"tandem/store"
)

// rawReader is a socket that reads only when told to: a slow reader.
type rawReader struct {
	ws *websocket.Conn
}

func (u *user) dialRaw() *rawReader {
	u.e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(u.e.srv.URL, "http")+"/api/socket",
		&websocket.DialOptions{HTTPClient: u.http, Subprotocols: []string{Subprotocol}})
	if err != nil {
		u.e.t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(64 << 20)
	return &rawReader{ws: ws}
}

// frame reads one frame's messages, and says how big it was.
func (r *rawReader) frame(d time.Duration) ([]map[string]any, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_, data, err := r.ws.Read(ctx)
	if err != nil {
		return nil, 0, err
	}
	var batch []map[string]any
	if data[0] == '[' {
		err = json.Unmarshal(data, &batch)
	} else {
		var m map[string]any
		err = json.Unmarshal(data, &m)
		batch = append(batch, m)
	}
	return batch, len(data), err
}

// newBacklog starts a server with cfg on SQLite, where an owner has an
// empty document and a second user, with role on it, has joined it over a
// raw socket (closed when the test ends); it returns the server's
// connection of that user last.
func newBacklog(t *testing.T, cfg Config, role store.Role) (*env, *user, string, *rawReader, *Conn) {
	t.Helper()
	env := newEnv(t, "sqlite", cfg)
	owner := env.signup("owner@example.com")
	doc := owner.createDoc("")
	reader := env.signup("reader@example.com")
	owner.share(doc, reader, role)
	r := reader.dialRaw()
	t.Cleanup(func() { r.ws.CloseNow() })
	if err := r.ws.Write(context.Background(), websocket.MessageText, []byte(`{"type":"join","doc":"`+doc+`"}`)); err != nil {
		t.Fatal(err)
	}
	for joined := false; !joined; {
		batch, _, err := r.frame(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range batch {
			joined = joined || m["type"] == "joined"
		}
	}
	return env, owner, doc, r, env.connOf(reader.id)
}

// connOf is the hub's connection of a user (the only one it has).
func (e *env) connOf(userID string) *Conn {
	e.hub.mu.Lock()
	defer e.hub.mu.Unlock()
	for c := range e.hub.conns {
		if c.user.ID == userID {
			return c
		}
	}
	return nil
}

// TestSlowReaderStays: a reader that reads at about a tenth of a busy
// document's rate is not dropped: its queue is compacted (runs of ops
// composed into one op that jumps versions), stays within a small bound
// however far behind it is, and the reader ends with the stored text. A
// socket that stops reading altogether is closed by the write timeout.
func TestSlowReaderStays(t *testing.T) {
	cfg := testEngine()
	cfg.OutQueue = 16
	cfg.BehindAfter = 0 // compacted as soon as over the limit: the bound below is the limit's
	cfg.WriteTimeout = 5 * time.Second
	cfg.PingTimeout = 10 * time.Second
	cfg.OpsPerSecond, cfg.OpsBurst = 100000, 100000
	cfg.WriteBytesPerMin = 1 << 30
	env, owner, doc, r, conn := newBacklog(t, cfg, store.RoleViewer)
	text, version := "", int64(0)

	// The writer: 3,000 ops of 4 KB as fast as the room commits them (an
	// insert, then its delete: the document stays small), far more than
	// the sockets' buffers hold.
	const ops = 3000
	chunk := strings.Repeat("w", 4000)
	var wg sync.WaitGroup
	writeErr := make(chan error, 1)
	wg.Go(func() {
		for i := range ops {
			op := ot.Insertion(0, 0, chunk)
			if i%2 == 1 {
				op = ot.Deletion(len(chunk), 0, len(chunk))
			}
			if _, err := env.hub.Submit(context.Background(), doc, owner.id, int64(i), fmt.Sprint("w", i), op); err != nil {
				writeErr <- err
				return
			}
		}
	})
	maxQueued, composed, opMsgs := 0, 0, 0
	apply := func(m map[string]any) {
		if m["type"] != "op" {
			return
		}
		opMsgs++
		from := num(m["version"])
		if f, ok := m["from"]; ok {
			from = num(f)
			composed++
		}
		if from != version+1 {
			t.Fatalf("op %v after version %d", m, version)
		}
		raw, _ := json.Marshal(m["op"])
		var op ot.Op
		if err := json.Unmarshal(raw, &op); err != nil {
			t.Fatal(err)
		}
		var err error
		if text, err = ot.Apply(text, op); err != nil {
			t.Fatalf("apply %v: %v", m, err)
		}
		version = num(m["version"])
	}
	start := time.Now()
	read := 0
	for version < ops {
		batch, size, err := r.frame(10 * time.Second)
		if err != nil {
			t.Fatalf("the slow reader was cut off at version %d: %v", version, err)
		}
		for _, m := range batch {
			apply(m)
		}
		maxQueued = max(maxQueued, conn.out.len())
		// Read at 100 KB/s: a small fraction of what the writer sends.
		read += size
		time.Sleep(time.Until(start.Add(time.Duration(read) * time.Second / 100_000)))
	}
	wg.Wait()
	select {
	case err := <-writeErr:
		t.Fatal(err)
	default:
	}
	stored, head := owner.content(doc)
	if version != head || text != stored {
		t.Fatalf("the slow reader has version %d %q, stored %d %q", version, text, head, stored)
	}
	if composed == 0 || opMsgs > ops/2 {
		t.Errorf("the slow reader got %d op messages (%d composed) for %d ops: it was not compacted", opMsgs, composed, ops)
	}
	if maxQueued > 2*cfg.OutQueue+4 {
		t.Errorf("the slow reader's queue held up to %d messages (limit %d)", maxQueued, cfg.OutQueue)
	}
	t.Logf("slow reader: %d op messages (%d composed) for %d ops, at most %d messages queued", opMsgs, composed, ops, maxQueued)

	// A socket that stops reading: closed once its writes time out.
	stuck := env.signup("stuck@example.com")
	owner.share(doc, stuck, store.RoleViewer)
	s := stuck.dialRaw()
	defer s.ws.CloseNow()
	if err := s.ws.Write(context.Background(), websocket.MessageText, []byte(`{"type":"join","doc":"`+doc+`"}`)); err != nil {
		t.Fatal(err)
	}
	for env.connOf(stuck.id) == nil {
		time.Sleep(10 * time.Millisecond)
	}
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; env.connOf(stuck.id) != nil; i++ {
		if time.Now().After(deadline) {
			t.Fatal("a socket that does not read is still open after 30s")
		}
		base := int64(ops + i)
		op := ot.Insertion(0, 0, chunk)
		if i%2 == 1 {
			op = ot.Deletion(len(chunk), 0, len(chunk))
		}
		if _, err := env.hub.Submit(context.Background(), doc, owner.id, base, fmt.Sprint("s", i), op); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInFlightOpGetsSingleOps: a client whose queue was compacted while it
// did not read, and which then sends an op at the version it has, gets
// every op up to that op's ack one by one, not composed (a composed op
// there would cost it a history fetch, protocol §5); the ops after the
// ack may be composed again.
func TestInFlightOpGetsSingleOps(t *testing.T) {
	cfg := testEngine()
	cfg.OutQueue = 64 // compacted only once the writer is stuck on a full socket, not while it keeps up
	cfg.BehindAfter = 0
	cfg.SendBuffer = 4096
	cfg.PingInterval, cfg.PingTimeout = time.Minute, time.Minute // it answers pings only as it reads
	cfg.OpsPerSecond, cfg.OpsBurst = 100000, 100000
	cfg.WriteBytesPerMin = 1 << 30
	env, owner, doc, r, conn := newBacklog(t, cfg, store.RoleEditor)

	// While the reader does not read: 400 ops of 4 KB (an insert, then its
	// delete), far more than the sockets' buffers hold.
	const ops = 400
	chunk := strings.Repeat("w", 4000)
	for i := range ops {
		op := ot.Insertion(0, 0, chunk)
		if i%2 == 1 {
			op = ot.Deletion(len(chunk), 0, len(chunk))
		}
		if _, err := env.hub.Submit(context.Background(), doc, owner.id, int64(i), fmt.Sprint("w", i), op); err != nil {
			t.Fatal(err)
		}
	}
	runs := func() (n int) {
		conn.out.mu.Lock()
		defer conn.out.mu.Unlock()
		for _, q := range conn.out.msgs {
			if q.run != nil {
				n++
			}
		}
		return n
	}
	queuedRuns := runs()
	if queuedRuns == 0 {
		t.Fatal("the reader's queue holds no composed run: nothing to test")
	}

	// The reader's op, made at version 0, the last it has.
	if err := r.ws.Write(context.Background(), websocket.MessageText,
		[]byte(`{"type":"op","doc":"`+doc+`","version":0,"id":"mine","op":["r"]}`)); err != nil {
		t.Fatal(err)
	}
	version, acked, composedAfter := int64(0), false, 0
	for version < ops+1 {
		batch, _, err := r.frame(10 * time.Second)
		if err != nil {
			t.Fatalf("at version %d: %v", version, err)
		}
		for _, m := range batch {
			switch m["type"] {
			case "ack":
				if version != num(m["version"])-1 {
					t.Fatalf("ack at %v after version %d", m["version"], version)
				}
				acked, version = true, num(m["version"])
			case "op":
				from := num(m["version"])
				if f, ok := m["from"]; ok {
					if !acked {
						t.Fatalf("a composed op (%v..%v) before the ack of the op in flight", f, m["version"])
					}
					from = num(f)
					composedAfter++
				}
				if from != version+1 {
					t.Fatalf("op %v..%v after version %d", from, m["version"], version)
				}
				version = num(m["version"])
			}
		}
	}
	if !acked {
		t.Fatal("no ack")
	}
	t.Logf("%d runs were queued when the op was sent; %d composed ops after its ack", queuedRuns, composedAfter)
}
