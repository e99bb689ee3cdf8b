package collab

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"tandem/ot"
	"tandem/store"
)

// Fault modes of faultyStore.AppendOps.
const (
	appendOK    int32 = iota
	appendFails       // fails, storing nothing
	appendLoses       // stores the batch, then fails (the reply was lost)
)

// faultyStore is a real store whose AppendOps fails on demand.
type faultyStore struct {
	store.Store
	mode   atomic.Int32 // appendOK, appendFails or appendLoses
	failed atomic.Int64 // appends that returned the injected error
}

func (f *faultyStore) AppendOps(ctx context.Context, docID string, head int64, ops []store.NewOp) error {
	switch f.mode.Load() {
	case appendFails:
		f.failed.Add(1)
		return errors.New("injected: disk on fire")
	case appendLoses:
		if err := f.Store.AppendOps(ctx, docID, head, ops); err != nil {
			return err
		}
		f.failed.Add(1)
		return errors.New("injected: connection lost after commit")
	}
	return f.Store.AppendOps(ctx, docID, head, ops)
}

// pumpThroughFailure is pump for an editor whose room may fail: an
// unavailable refusal (its op reached the room as it failed) leaves the op
// outstanding, to re-send after rejoining, as a client does.
func (e *editor) pumpThroughFailure() {
	for e.err == nil {
		select {
		case m := <-e.s.msgs:
			if m["type"] == "error" && m["code"] == "unavailable" {
				continue
			}
			e.handle(m)
		default:
			return
		}
	}
}

// rejoin reconnects the editor as a client does after its socket closed:
// a new socket, a join at the last version it has, the ops it missed (its
// own outstanding op among them is its ack), then the outstanding op re-sent
// as first sent.
func (e *editor) rejoin(u *user) {
	e.t.Helper()
	e.s = u.dial()
	j := e.s.join(e.doc, e.st.Version())
	ops, ok := j["ops"].([]any)
	if j["type"] != "joined" || !ok {
		e.t.Fatalf("%s: rejoin at %d: %v", e.name, e.st.Version(), j)
	}
	for _, o := range ops {
		e.remote(o.(map[string]any))
	}
	if e.st.Outstanding() != nil {
		e.resend()
	}
	e.check()
}

// TestCommitFailure: with editors joined and ops in flight, the store starts
// failing commits. Every socket in the room is closed with 1011, a program's
// submit gets 503 at once, and nothing acknowledged is lost: once the store
// recovers, the clients reconnect, rejoin and re-send what was not
// acknowledged, the room works again, and the stored history holds every
// acknowledged op at the version acknowledged, each op once. Both when the
// failed commit stored nothing and when it stored the batch but reported a
// failure (the room then never acknowledged it: the re-send must be).
func TestCommitFailure(t *testing.T) {
	for _, mode := range []struct {
		name string
		mode int32
	}{{"nothing-stored", appendFails}, {"stored-unacked", appendLoses}} {
		t.Run(mode.name, func(t *testing.T) {
			for _, kind := range backends {
				t.Run(kind, func(t *testing.T) { testCommitFailure(t, kind, mode.mode) })
			}
		})
	}
}

func testCommitFailure(t *testing.T, kind string, mode int32) {
	var fs *faultyStore
	env := newEnvWrapped(t, kind, testEngine(), func(st store.Store) store.Store {
		fs = &faultyStore{Store: st}
		return fs
	})
	owner := env.signup("owner@example.com")
	doc := owner.createDoc("start\n")
	const editors = 3
	users := make([]*user, editors)
	eds := make([]*editor, editors)
	rngs := make([]*rand.Rand, editors)
	for i := range eds {
		users[i] = env.signup(fmt.Sprintf("e%d@example.com", i))
		owner.share(doc, users[i], store.RoleEditor)
		s := users[i].dial()
		eds[i] = newEditor(t, s, doc, fmt.Sprintf("e%d", i), s.join(doc, -1))
		eds[i].history = env.history(doc)
		rngs[i] = rand.New(rand.NewPCG(uint64(i), uint64(mode)))
	}
	editAll := func() {
		t.Helper()
		for i, e := range eds {
			e.pumpThroughFailure()
			e.edit(randomEdit(rngs[i], e.st.Text()))
			e.check()
		}
	}
	// Some ops acknowledged, more in flight.
	for range 20 {
		editAll()
		time.Sleep(time.Millisecond)
	}
	ackedBefore := 0
	for _, e := range eds {
		ackedBefore += len(e.acked)
	}

	// The store fails; the editors go on editing until their sockets close.
	fs.mode.Store(mode)
	deadline := time.Now().Add(15 * time.Second)
	for {
		open := 0
		for i, e := range eds {
			select {
			case <-e.s.closed:
				continue
			default:
			}
			open++
			e.pumpThroughFailure()
			e.edit(randomEdit(rngs[i], e.st.Text()))
			e.check()
		}
		if open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d sockets still open 15s after commits began to fail (%d failed)", open, editors, fs.failed.Load())
		}
		time.Sleep(time.Millisecond)
	}
	for _, e := range eds {
		e.pumpThroughFailure() // everything sent before the close
		e.check()
		if code := e.s.closeStatus(); code != websocket.StatusInternalError {
			t.Errorf("%s: socket closed with %d, want 1011", e.name, code)
		}
	}
	if fs.failed.Load() == 0 {
		t.Fatal("no commit failed")
	}

	// A program's submit meanwhile is refused, not left waiting.
	text, head := owner.content(doc)
	restOp := map[string]any{"version": head, "id": "during-failure", "op": ot.Insertion(utf8.RuneCountInString(text), 0, "R")}
	start := time.Now()
	owner.call("POST", "/api/docs/"+doc+"/ops", restOp, 503, nil)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the submit took %v to be refused", d)
	}

	// The store recovers: the program retries and the clients come back.
	fs.mode.Store(appendOK)
	stored := storedOps(t, env, doc)
	var res struct{ Version int64 }
	owner.call("POST", "/api/docs/"+doc+"/ops", restOp, 200, &res)
	if v, ok := stored[storedKey{owner.id, "during-failure"}]; ok && res.Version != v {
		t.Errorf("the program's op was stored at %d by the failed commit, but its retry got %d", v, res.Version)
	} else if !ok && mode == appendLoses {
		t.Errorf("the program's op was not stored by a commit that stores and then fails")
	}
	for i, e := range eds {
		e.rejoin(users[i])
	}
	for range 20 {
		editAll()
		time.Sleep(time.Millisecond)
	}
	for _, e := range eds {
		e.settle(0)
		e.check()
	}
	text, head = owner.content(doc)
	for _, e := range eds {
		e.settle(head)
		e.check()
		if e.st.Text() != text {
			t.Errorf("%s diverged:\n got %q\nwant %q", e.name, e.st.Text(), text)
		}
	}

	// Every op acknowledged, before the failure or after, is stored once at
	// the version its author was given, and nothing else is stored.
	stored = storedOps(t, env, doc)
	acked := 0
	for i, e := range eds {
		for id, v := range e.acked {
			acked++
			if got, ok := stored[storedKey{users[i].id, id}]; !ok || got != v {
				t.Errorf("%s: op %s acknowledged as version %d, stored as %d (stored: %v)", e.name, id, v, got, ok)
			}
		}
	}
	if stored[storedKey{owner.id, "during-failure"}] != res.Version {
		t.Errorf("the program's op is stored at %d, acknowledged as %d", stored[storedKey{owner.id, "during-failure"}], res.Version)
	}
	if len(stored) != acked+1 || int64(len(stored)) != head {
		t.Errorf("%d ops stored, head %d, but %d acknowledged (and the program's)", len(stored), head, acked)
	}
	t.Logf("%d commits failed; %d ops acknowledged before the failure, %d in all", fs.failed.Load(), ackedBefore, acked)
}

// storedOps is the document's stored history: (author, op id) → version;
// an op stored twice fails the test.
func storedOps(t *testing.T, env *env, doc string) map[storedKey]int64 {
	t.Helper()
	recs, err := env.st.Ops(context.Background(), doc, 1, 1<<40, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[storedKey]int64, len(recs))
	for i, rec := range recs {
		k := storedKey{rec.UserID, rec.ID}
		if v, dup := out[k]; dup {
			t.Errorf("op %s of %s stored at %d and %d", rec.ID, rec.UserID, v, rec.Version)
		}
		if rec.Version != int64(i+1) {
			t.Errorf("stored history has version %d at position %d", rec.Version, i+1)
		}
		out[k] = rec.Version
	}
	return out
}

// storedKey identifies a stored op: ids are unique per author.
type storedKey struct{ user, id string }

// slowHistory is a real store whose reads of history wait, on demand: a
// room that needs history older than its window then stops for that long.
type slowHistory struct {
	store.Store
	delay atomic.Int64 // a time.Duration
}

func (s *slowHistory) Ops(ctx context.Context, docID string, from, to int64, page store.Page) ([]store.OpRecord, error) {
	time.Sleep(time.Duration(s.delay.Load()))
	return s.Store.Ops(ctx, docID, from, to, page)
}

// TestBusyRoomKeepsReaders: a room that falls behind fills its inbox, and
// its members' readers wait to hand it their messages, unable to read a
// pong meanwhile. They must not be dropped as dead ("no pong"): their
// messages are the sign of life.
func TestBusyRoomKeepsReaders(t *testing.T) {
	cfg := testEngine()
	cfg.PingInterval, cfg.PingTimeout = 100*time.Millisecond, 300*time.Millisecond
	cfg.WindowOps = 5
	cfg.OpsPerSecond, cfg.OpsBurst = 100000, 100000
	var slow *slowHistory
	env := newEnvWrapped(t, "sqlite", cfg, func(s store.Store) store.Store {
		slow = &slowHistory{Store: s}
		return slow
	})
	ann, doc, s := env.solo("")
	defer s.close()
	s.join(doc, -1)
	const before = 30
	for v := range int64(before) {
		s.send(map[string]any{"type": "op", "doc": doc, "version": v, "id": fmt.Sprint("a", v), "op": ot.Insertion(int(v), int(v), "a")})
		if m := s.next("ack", "error"); m["type"] != "ack" {
			t.Fatalf("op %d: %v", v, m)
		}
	}
	// An op made at version 0, long out of the window: the room reads the
	// history for it, for 1.5 s, while 400 more ops queue up behind it.
	slow.delay.Store(int64(1500 * time.Millisecond))
	s.send(map[string]any{"type": "op", "doc": doc, "version": 0, "id": "late", "op": ot.Insertion(0, 0, "y")})
	const flood = 400
	for i := range flood {
		s.send(map[string]any{"type": "op", "doc": doc, "version": before, "id": fmt.Sprint("f", i), "op": ot.Insertion(before, 0, "x")})
	}
	slow.delay.Store(0)
	for range flood + 1 {
		if m := s.next("ack", "error"); m["type"] != "ack" {
			t.Fatalf("%v", m)
		}
	}
	if code := s.closeStatus(); code != 0 {
		t.Fatalf("the socket was closed (%d) while its room was busy", code)
	}
	if _, v := ann.content(doc); v != before+flood+1 {
		t.Fatalf("version %d, want %d", v, before+flood+1)
	}
}
