package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"tandem/ot"
)

// The ShareDB side of --target sharedb: its wire protocol spoken directly,
// JSON messages over a WebSocket (a handshake "hs", subscribe "s", fetch "f",
// edits "op" with v, src and seq), against cmd/tandem-bench/sharedb/server.js.

// sdbCollection holds the benchmark's documents.
const sdbCollection = "docs"

// sdbMsg is any ShareDB message; fields are read by action (a).
type sdbMsg struct {
	A      string          `json:"a"`
	C      string          `json:"c"`
	D      string          `json:"d"`
	V      *int64          `json:"v"`
	Src    string          `json:"src"`
	Seq    int64           `json:"seq"`
	Op     []json0Comp     `json:"op"`
	Create json.RawMessage `json:"create"`
	Del    bool            `json:"del"`
	ID     string          `json:"id"`
	Data   *sdbSnapshot    `json:"data"`
	Error  *sdbError       `json:"error"`
}

// sdbSnapshot is a document as "s" and "f" return it.
type sdbSnapshot struct {
	V    int64 `json:"v"`
	Data struct {
		Text *string `json:"text"`
	} `json:"data"`
}

type sdbError struct {
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
}

// code is the error's code as a string (ShareDB sends strings such as
// "ERR_OP_SUBMIT_REJECTED"; older servers numbers).
func (e *sdbError) code() string {
	var s string
	if json.Unmarshal(e.Code, &s) == nil && s != "" {
		return s
	}
	return "sharedb_" + strings.Trim(string(e.Code), `"`)
}

// sdbConn is one WebSocket to the ShareDB server, past the handshake.
type sdbConn struct {
	name  string
	ws    *websocket.Conn
	src   string // the id the server gave this connection; it marks our ops
	msgs  chan sdbMsg
	ended chan error
	done  chan struct{} // closed by close: the reader stops waiting to hand over a message
	once  sync.Once
}

// close closes the socket and lets its reader go, even if nobody takes
// the messages it holds (an editor given up on after a failed run):
// otherwise the reader, and up to 4,096 messages, would stay for the
// rest of the process (tandem-bench compare runs many scenarios).
func (c *sdbConn) close() {
	c.once.Do(func() { close(c.done) })
	c.ws.CloseNow()
}

// sdbDial connects and shakes hands.
func sdbDial(ctx context.Context, url, name string) (*sdbConn, error) {
	ws, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: dial: %w", name, err)
	}
	ws.SetReadLimit(64 << 20)
	c := &sdbConn{name: name, ws: ws, msgs: make(chan sdbMsg, 4096), ended: make(chan error, 1), done: make(chan struct{})}
	go c.read()
	if err := c.send(map[string]any{"a": "hs", "id": nil, "protocol": 1, "protocolMinor": 1}); err != nil {
		c.close()
		return nil, err
	}
	m, err := c.await(ctx, func(m sdbMsg) bool { return m.A == "hs" })
	if err != nil {
		c.close()
		return nil, err
	}
	c.src = m.ID
	return c, nil
}

func (c *sdbConn) read() {
	defer close(c.msgs)
	for {
		_, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.ended <- err
			return
		}
		var m sdbMsg
		if err := json.Unmarshal(data, &m); err != nil {
			c.ended <- fmt.Errorf("bad message %.200s: %w", data, err)
			return
		}
		select {
		case c.msgs <- m:
		case <-c.done:
			c.ended <- errors.New("closed")
			return
		}
	}
}

func (c *sdbConn) send(msg any) error {
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, data)
}

// await returns the first message that want accepts, dropping others; an
// error message for the same request (a want match with error) fails.
func (c *sdbConn) await(ctx context.Context, want func(sdbMsg) bool) (sdbMsg, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		select {
		case m, ok := <-c.msgs:
			if !ok {
				return sdbMsg{}, fmt.Errorf("%s: socket closed: %w", c.name, <-c.ended)
			}
			if !want(m) {
				continue
			}
			if m.Error != nil {
				return m, fmt.Errorf("%s: %s: %s: %s", c.name, m.A, m.Error.code(), m.Error.Message)
			}
			return m, nil
		case <-ctx.Done():
			return sdbMsg{}, fmt.Errorf("%s: no answer: %w", c.name, ctx.Err())
		}
	}
}

// subscribe subscribes to doc (the server creates it on demand) and
// returns its snapshot.
func (c *sdbConn) subscribe(ctx context.Context, doc string) (text string, version int64, err error) {
	if err := c.send(map[string]any{"a": "s", "c": sdbCollection, "d": doc}); err != nil {
		return "", 0, err
	}
	m, err := c.await(ctx, func(m sdbMsg) bool { return m.A == "s" && m.D == doc })
	if err != nil {
		return "", 0, err
	}
	return snapshotText(c.name, doc, m.Data)
}

// fetch returns doc's snapshot and the id (src:seq) and version of every
// edit in its history, the creation left out.
func (c *sdbConn) fetch(ctx context.Context, doc string) (text string, version int64, ops []storedOp, err error) {
	if err := c.send(map[string]any{"a": "f", "c": sdbCollection, "d": doc}); err != nil {
		return "", 0, nil, err
	}
	m, err := c.await(ctx, func(m sdbMsg) bool { return m.A == "f" && m.D == doc })
	if err != nil {
		return "", 0, nil, err
	}
	if text, version, err = snapshotText(c.name, doc, m.Data); err != nil {
		return "", 0, nil, err
	}
	// With a version, "f" sends the ops from there, then its reply.
	if err := c.send(map[string]any{"a": "f", "c": sdbCollection, "d": doc, "v": 0}); err != nil {
		return "", 0, nil, err
	}
	done := false
	for !done {
		m, err := c.await(ctx, func(m sdbMsg) bool { return m.D == doc && (m.A == "f" || m.A == "op") })
		if err != nil {
			return "", 0, nil, err
		}
		switch {
		case m.A == "f":
			done = true
		case m.V != nil && m.Create == nil && *m.V < version:
			ops = append(ops, storedOp{Version: *m.V, ID: sdbOpID(m.Src, m.Seq)})
		}
	}
	return text, version, ops, nil
}

func snapshotText(name, doc string, s *sdbSnapshot) (string, int64, error) {
	// The type is left out when it is the default, json0.
	if s == nil || s.Data.Text == nil {
		return "", 0, fmt.Errorf("%s: document %s has no text (was it created?)", name, doc)
	}
	return *s.Data.Text, s.V, nil
}

// sdbOpID names an edit as ShareDB does: its connection's id and sequence.
func sdbOpID(src string, seq int64) string { return src + ":" + strconv.FormatInt(seq, 10) }

// sdbEditor is one simulated person on ShareDB, running ShareDB's client
// rule (its lib/client/doc.js): one op in flight, later local edits composed
// into one waiting op, remote ops transformed against both, the local ones
// winning ties of inserts at one place as the server's transform makes them.
type sdbEditor struct {
	*sdbConn
	doc string
	run *run
	rng *rand.Rand

	version  int64  // the server's version the editor has seen
	base     string // the server's text at version
	text     string // base with the in-flight and waiting edits applied
	inflight *pending
	buffer   *ot.Op
	seq      int64
	early    map[int64]sdbMsg // remote ops that came before the ones they follow
}

// pending is an op in flight to ShareDB.
type pending struct {
	id  string
	op  ot.Op
	at  time.Time
	ver int64
}

// sdbJoin connects an editor to doc.
func sdbJoin(ctx context.Context, url, doc, name string, r *run, seed uint64) (*sdbEditor, error) {
	c, err := sdbDial(ctx, url, name)
	if err != nil {
		return nil, err
	}
	text, v, err := c.subscribe(ctx, doc)
	if err != nil {
		c.close()
		return nil, err
	}
	return &sdbEditor{sdbConn: c, doc: doc, run: r, rng: rand.New(rand.NewPCG(seed, 7)),
		version: v, base: text, text: text, early: map[int64]sdbMsg{}}, nil
}

func (e *sdbEditor) typeOne() error {
	apply := func(op ot.Op) (err error) {
		e.text, err = ot.Apply(e.text, op)
		return err
	}
	if err := typeInto(e.rng, utf8.RuneCountInString(e.text), apply, e.inflight != nil, &e.buffer, e.sendOp); err != nil {
		return fmt.Errorf("%s: %w", e.name, err)
	}
	return nil
}

func (e *sdbEditor) sendOp(op ot.Op) error {
	comps, err := toJSON0(e.base, op)
	if err != nil {
		return fmt.Errorf("%s: %w", e.name, err)
	}
	e.seq++
	p := &pending{id: sdbOpID(e.src, e.seq), op: op, at: time.Now(), ver: e.version}
	e.inflight = p
	e.run.sentAt.Store(p.id, p.at)
	return e.send(map[string]any{"a": "op", "c": sdbCollection, "d": e.doc, "v": e.version, "seq": e.seq, "op": comps})
}

// handle applies one server message; closedLoop types the next op on ack.
func (e *sdbEditor) handle(m sdbMsg, closedLoop bool) error {
	if m.A != "op" || m.D != e.doc {
		if m.Error != nil {
			e.run.countError(m.Error.code())
		}
		return nil
	}
	if m.Error != nil {
		e.run.countError(m.Error.code())
		if e.inflight != nil && m.Seq == e.seq {
			return fmt.Errorf("%s: op %s refused: %s: %s", e.name, e.inflight.id, m.Error.code(), m.Error.Message)
		}
		return nil
	}
	if m.V == nil {
		return fmt.Errorf("%s: op message without a version", e.name)
	}
	ack := m.Src == e.src && e.inflight != nil && m.Seq == e.seq && m.Op == nil && m.Create == nil
	switch v := *m.V; {
	case ack:
		if err := e.acked(v); err != nil {
			return err
		}
	case v < e.version: // a duplicate: the server may send an op twice
		return nil
	case v > e.version:
		e.early[v] = m
		return nil
	default:
		if err := e.remote(m); err != nil {
			return err
		}
	}
	for {
		next, ok := e.early[e.version]
		if !ok {
			break
		}
		delete(e.early, e.version)
		if err := e.remote(next); err != nil {
			return err
		}
	}
	if !ack {
		return nil
	}
	// Edits that cancel out (a character typed, then deleted) leave a no-op
	// waiting: nothing to send. ShareDB would take an empty op, but its
	// client does not send one either.
	if e.buffer != nil && e.buffer.IsNoop() {
		e.buffer = nil
	}
	if e.buffer != nil {
		op := *e.buffer
		e.buffer = nil
		return e.sendOp(op)
	}
	if closedLoop {
		return e.typeOne()
	}
	return nil
}

// acked takes the server's acknowledgement of the op in flight, applied at
// version v.
func (e *sdbEditor) acked(v int64) error {
	p := e.inflight
	if v != e.version {
		return fmt.Errorf("%s: op %s acknowledged at version %d, editor at %d", e.name, p.id, v, e.version)
	}
	if e.run.measuringNow() {
		e.run.ackLat.add(time.Since(p.at))
		e.run.ackedOps.inc()
	}
	// Version 0 is the creation: edit n is stored at version n.
	e.run.acked.Store(p.id, v)
	base, err := ot.Apply(e.base, p.op)
	if err != nil {
		return fmt.Errorf("%s: apply own op: %w", e.name, err)
	}
	e.base, e.version, e.inflight = base, v+1, nil
	return nil
}

// remote applies someone else's op, which is at the editor's version.
func (e *sdbEditor) remote(m sdbMsg) error {
	if m.Create != nil || m.Del {
		return fmt.Errorf("%s: document created or deleted under the editor", e.name)
	}
	if at, ok := e.run.sentAt.Load(sdbOpID(m.Src, m.Seq)); ok && e.run.measuringNow() {
		e.run.remoteLat.add(time.Since(at.(time.Time)))
	}
	for _, c := range m.Op {
		op, err := fromJSON0(e.base, c)
		if err != nil {
			return fmt.Errorf("%s: op from the server: %w", e.name, err)
		}
		if e.base, err = ot.Apply(e.base, op); err != nil {
			return fmt.Errorf("%s: apply: %w", e.name, err)
		}
		// The local side goes first: in-flight and waiting edits are the
		// left-hand ops of the server's and ShareDB's client's transform.
		if e.inflight != nil {
			if e.inflight.op, op, err = ot.Transform(e.inflight.op, op); err != nil {
				return fmt.Errorf("%s: transform: %w", e.name, err)
			}
		}
		if e.buffer != nil {
			var b ot.Op
			if b, op, err = ot.Transform(*e.buffer, op); err != nil {
				return fmt.Errorf("%s: transform: %w", e.name, err)
			}
			e.buffer = &b
		}
		if e.text, err = ot.Apply(e.text, op); err != nil {
			return fmt.Errorf("%s: apply: %w", e.name, err)
		}
	}
	e.version++
	return nil
}

func (e *sdbEditor) synced() bool { return e.inflight == nil && e.buffer == nil }

// pump is the editor's typing and message loop.
func (e *sdbEditor) pump() pump[sdbMsg] {
	return pump[sdbMsg]{name: e.name, msgs: e.msgs, ended: e.ended, rng: e.rng, handle: e.handle, typeOne: e.typeOne}
}

// loop types at rate ops/s (0: closed loop) until stop, then handles
// messages until its edits are acknowledged.
func (e *sdbEditor) loop(rate float64, stop <-chan struct{}) error {
	return e.pump().loop(rate, stop, e.synced)
}

// final is the editor as checkConvergence sees it, counting edits (the
// creation, ShareDB's version 0, left out).
func (e *sdbEditor) final() final {
	return final{name: e.name, doc: e.doc, full: true, text: e.text, version: e.version - 1}
}
