package collab

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"tandem/collab/client"
	"tandem/ot"
	"tandem/store"
)

// editor drives the protocol's client state machine, client.State
// (synchronized, awaiting an ack, or awaiting an ack with a buffer of
// local edits composed into one op), over a raw test socket, so that tests
// can script what the socket does around it (drop it, rejoin by hand).
type editor struct {
	t     testing.TB
	s     *socket
	doc   string
	name  string
	st    *client.State
	acked map[string]int64 // op id → version, for checks
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

func newEditor(t testing.TB, s *socket, doc, name string, joined map[string]any) *editor {
	content, ok := joined["content"].(string)
	if !ok {
		t.Fatalf("%s: joined without content: %v", name, joined)
	}
	e := &editor{t: t, s: s, doc: doc, name: name, acked: map[string]int64{}, st: client.NewState(content, num(joined["version"]))}
	e.st.IDPrefix = name
	return e
}

// edit applies a local edit and sends it, or buffers it.
func (e *editor) edit(op ot.Op) {
	if e.err != nil {
		return
	}
	p, err := e.st.Edit(op)
	if err != nil {
		e.failf("%v", err)
		return
	}
	if p != nil {
		e.resend()
	}
}

// resend sends the outstanding op as it was first sent.
func (e *editor) resend() {
	o := e.st.Outstanding()
	e.s.send(map[string]any{"type": "op", "doc": e.doc, "version": o.Base, "id": o.ID, "op": o.Orig})
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
	if o := e.st.Outstanding(); o == nil || o.ID != id {
		e.failf("ack for %s, but awaiting %v", id, o)
		return
	}
	e.acked[id] = version
	if e.st.Ack(version) != nil {
		e.resend()
	}
}

func (e *editor) remote(m map[string]any) {
	var op ot.Op
	raw, _ := json.Marshal(m["op"])
	if err := json.Unmarshal(raw, &op); err != nil {
		e.failf("bad op %v: %v", m["op"], err)
		return
	}
	if o := e.st.Outstanding(); o != nil && m["id"] == o.ID {
		// Our own op, seen in a catch-up after a reconnect: an ack.
		e.ack(o.ID, num(m["version"]))
		return
	}
	v, from := num(m["version"]), num(m["version"])
	if f, ok := m["from"]; ok {
		from = num(f) // a composed op, standing for versions from..version
	}
	_, err := e.st.Remote(from, v, op)
	if !errors.Is(err, client.ErrNeedHistory) {
		if err != nil {
			e.failf("remote op: %v", err)
		}
		return
	}
	if e.history == nil {
		e.failf("a composed op while edits are pending, and no history to read")
		return
	}
	recs, err := e.history(from, v)
	if err != nil || int64(len(recs)) != v-from+1 {
		e.failf("history %d..%d: %d ops, %v", from, v, len(recs), err)
		return
	}
	for _, rec := range recs {
		e.remote(map[string]any{"version": float64(rec.Version), "id": rec.ID, "user": rec.UserID, "op": rec.Op})
	}
}

// synced reports whether nothing local is waiting.
func (e *editor) synced() bool { return e.st.Synced() }
