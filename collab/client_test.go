package collab

import (
	"encoding/json"
	"fmt"
	"testing"

	"tandem/ot"
	"tandem/store"
)

// editor is the protocol's client state machine, as docs/protocol.md
// describes it: synchronized, awaiting an ack, or awaiting an ack with a
// buffer of local edits composed into one op.
type editor struct {
	t       testing.TB
	s       *socket
	doc     string
	name    string
	version int64  // the last server version this client has
	text    string // what the user sees: the server's text plus pending edits

	outstanding *sent  // sent, not acked
	buffer      *ot.Op // local edits made while awaiting the ack
	seq         int
	acked       map[string]int64 // op id → version, for checks
	// history reads stored ops, for a composed op met while edits are
	// pending (nil: such an op fails the editor).
	history func(from, to int64) ([]store.OpRecord, error)

	// err is the editor's first failure. An editor may run in a goroutine
	// of its own, where t.Fatal is not allowed: it records the failure
	// instead, does nothing more, and whoever drives it reports err
	// (check, from the test goroutine).
	err error
}

// failf records the editor's first failure.
func (e *editor) failf(format string, args ...any) {
	if e.err == nil {
		e.err = fmt.Errorf("%s: %s", e.name, fmt.Sprintf(format, args...))
	}
}

// check fails the test if the editor failed; only from the test goroutine.
func (e *editor) check() {
	e.t.Helper()
	if e.err != nil {
		e.t.Fatal(e.err)
	}
}

// sent is an op on its way: as first sent (for a re-send, which the server
// dedupes by id), and as transformed since (for local state).
type sent struct {
	id   string
	base int64
	orig ot.Op
	op   ot.Op
}

func newEditor(t testing.TB, s *socket, doc, name string, joined map[string]any) *editor {
	e := &editor{t: t, s: s, doc: doc, name: name, acked: map[string]int64{}}
	e.version = num(joined["version"])
	content, ok := joined["content"].(string)
	if !ok {
		t.Fatalf("%s: joined without content: %v", name, joined)
	}
	e.text = content
	return e
}

// edit applies a local edit and sends it, or buffers it.
func (e *editor) edit(op ot.Op) {
	if e.err != nil {
		return
	}
	text, err := ot.Apply(e.text, op)
	if err != nil {
		e.failf("local edit %s: %v", op, err)
		return
	}
	e.text = text
	switch {
	case e.outstanding == nil:
		e.send(op)
	case e.buffer == nil:
		e.buffer = &op
	default:
		composed, err := ot.Compose(*e.buffer, op)
		if err != nil {
			e.failf("compose: %v", err)
			return
		}
		e.buffer = &composed
	}
}

func (e *editor) send(op ot.Op) {
	e.seq++
	e.outstanding = &sent{id: fmt.Sprintf("%s-%d", e.name, e.seq), base: e.version, orig: op, op: op}
	e.resend()
}

// resend sends the outstanding op as it was first sent.
func (e *editor) resend() {
	e.s.send(map[string]any{"type": "op", "doc": e.doc, "version": e.outstanding.base, "id": e.outstanding.id, "op": e.outstanding.orig})
}

// handle applies one server message.
func (e *editor) handle(m map[string]any) {
	if e.err != nil {
		return
	}
	switch m["type"] {
	case "ack":
		id, _ := m["id"].(string)
		e.ack(id, num(m["version"]))
	case "op":
		e.remote(m)
	case "error":
		e.failf("server error: %v", m)
	}
}

func (e *editor) ack(id string, version int64) {
	if e.outstanding == nil || e.outstanding.id != id {
		e.failf("ack for %s, but awaiting %v", id, e.outstanding)
		return
	}
	e.acked[id] = version
	e.version = version
	e.outstanding = nil
	if e.buffer != nil {
		op := *e.buffer
		e.buffer = nil
		e.send(op)
	}
}

func (e *editor) remote(m map[string]any) {
	var op ot.Op
	raw, _ := json.Marshal(m["op"])
	if err := json.Unmarshal(raw, &op); err != nil {
		e.failf("bad op %v: %v", m["op"], err)
		return
	}
	if e.outstanding != nil && m["id"] == e.outstanding.id {
		// Our own op, seen in a catch-up after a reconnect: an ack.
		e.ack(e.outstanding.id, num(m["version"]))
		return
	}
	from := num(m["version"])
	if f, ok := m["from"]; ok {
		from = num(f) // a composed op, standing for versions from..version
	}
	if v := num(m["version"]); from != e.version+1 || v < from {
		e.failf("op version %d (from %d) after %d", v, from, e.version)
		return
	}
	if num(m["version"]) > from && !e.synced() {
		// Pending edits cannot be moved over a composed op as the server
		// moves them (over each op in turn): take those ops one by one.
		if e.history == nil {
			e.failf("a composed op while edits are pending, and no history to read")
			return
		}
		recs, err := e.history(from, num(m["version"]))
		if err != nil || int64(len(recs)) != num(m["version"])-from+1 {
			e.failf("history %d..%d: %d ops, %v", from, num(m["version"]), len(recs), err)
			return
		}
		for _, rec := range recs {
			e.remote(map[string]any{"version": float64(rec.Version), "id": rec.ID, "user": rec.UserID, "op": rec.Op})
		}
		return
	}
	e.version = num(m["version"])
	var err error
	if e.outstanding != nil {
		// The server sequenced op first: it is the left side.
		if op, e.outstanding.op, err = ot.Transform(op, e.outstanding.op); err != nil {
			e.failf("transform over outstanding: %v", err)
			return
		}
	}
	if e.buffer != nil {
		var b ot.Op
		if op, b, err = ot.Transform(op, *e.buffer); err != nil {
			e.failf("transform over buffer: %v", err)
			return
		}
		e.buffer = &b
	}
	if e.text, err = ot.Apply(e.text, op); err != nil {
		e.failf("apply remote %s to %q: %v", op, e.text, err)
	}
}

// synced reports whether nothing local is waiting.
func (e *editor) synced() bool { return e.outstanding == nil && e.buffer == nil }
