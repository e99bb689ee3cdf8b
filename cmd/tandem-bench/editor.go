package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"tandem/ot"
)

// serverMsg is any message from the server; fields are read by type.
type serverMsg struct {
	Type    string          `json:"type"`
	Doc     string          `json:"doc"`
	Version int64           `json:"version"`
	From    int64           `json:"from"` // a composed op (a slow reader's): it stands for versions From..Version
	ID      string          `json:"id"`
	Op      json.RawMessage `json:"op"`
	Content *string         `json:"content"`
	Ops     []serverMsg     `json:"ops"`
	Code    string          `json:"code"`
	Message string          `json:"message"`
}

// run is what all editors of one benchmark share.
type run struct {
	ackLat, remoteLat latencies
	sentAt            sync.Map // op id → time.Time the op was sent
	errors            sync.Map // error code → *int64 count, under errMu
	errMu             sync.Mutex
	acked             sync.Map // op id → version
	measuring         chan struct{}
	ackedOps          countAfter
}

// countAfter counts events once measuring has begun.
type countAfter struct {
	mu sync.Mutex
	n  int64
}

func (c *countAfter) inc() { c.mu.Lock(); c.n++; c.mu.Unlock() }
func (c *countAfter) get() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
func (c *countAfter) reset() { c.mu.Lock(); c.n = 0; c.mu.Unlock() }

func (r *run) measuringNow() bool {
	select {
	case <-r.measuring:
		return true
	default:
		return false
	}
}

func (r *run) countError(code string) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	v, _ := r.errors.LoadOrStore(code, new(int64))
	*v.(*int64)++
}

// editor is one simulated person: a socket joined to one document, running
// the protocol's client state machine (synchronized, awaiting an ack,
// awaiting an ack with a buffer of composed local edits).
type editor struct {
	api   *api // for history, when a composed op meets pending edits
	name  string
	doc   string
	ws    *websocket.Conn
	run   *run
	rng   *rand.Rand
	msgs  chan serverMsg
	ended chan error

	version     int64
	text        string
	outstanding *pending
	buffer      *ot.Op
	seq         int
}

type pending struct {
	id  string
	op  ot.Op
	at  time.Time
	ver int64
}

// dial opens the editor's socket with the user's token and joins doc.
func dial(ctx context.Context, base, token, doc, name string, r *run, seed uint64) (*editor, error) {
	u := "ws" + strings.TrimPrefix(base, "http") + "/api/socket"
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + token}},
		Subprotocols: []string{"tandem.v1"},
	})
	if err != nil {
		return nil, fmt.Errorf("%s: dial: %w", name, err)
	}
	ws.SetReadLimit(64 << 20)
	e := &editor{name: name, doc: doc, ws: ws, run: r, rng: rand.New(rand.NewPCG(seed, 7)),
		msgs: make(chan serverMsg, 4096), ended: make(chan error, 1), api: newAPI(base)}
	e.api.token = token
	go e.read()
	if err := e.send(map[string]any{"type": "join", "doc": doc}); err != nil {
		return nil, err
	}
	for m := range e.msgs {
		switch m.Type {
		case "joined":
			if m.Content == nil {
				return nil, fmt.Errorf("%s: joined without content", name)
			}
			e.version, e.text = m.Version, *m.Content
			return e, nil
		case "error":
			return nil, fmt.Errorf("%s: join: %s: %s", name, m.Code, m.Message)
		}
	}
	return nil, fmt.Errorf("%s: socket closed while joining: %w", name, <-e.ended)
}

// read splits frames (one message, or an array of them) into e.msgs.
func (e *editor) read() {
	defer close(e.msgs)
	for {
		_, data, err := e.ws.Read(context.Background())
		if err != nil {
			e.ended <- err
			return
		}
		var batch []serverMsg
		if len(data) > 0 && data[0] == '[' {
			err = json.Unmarshal(data, &batch)
		} else {
			var m serverMsg
			err = json.Unmarshal(data, &m)
			batch = append(batch, m)
		}
		if err != nil {
			e.ended <- fmt.Errorf("bad frame: %w", err)
			return
		}
		for _, m := range batch {
			e.msgs <- m
		}
	}
}

func (e *editor) send(msg any) error {
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return e.ws.Write(ctx, websocket.MessageText, data)
}

// typeOne makes one local edit: mostly a character typed, sometimes a
// backspace, sometimes non-ASCII.
func (e *editor) typeOne() error {
	return typeInto(e.name, e.rng, &e.text, e.outstanding != nil, &e.buffer, e.sendOp)
}

// randomEdit is one keystroke on text: mostly a character typed,
// sometimes a backspace, sometimes non-ASCII.
func randomEdit(rng *rand.Rand, text string) ot.Op {
	n := utf8.RuneCountInString(text)
	switch k := rng.IntN(20); {
	case n > 0 && k < 3:
		pos := rng.IntN(n)
		return ot.Deletion(n, pos, 1)
	default:
		chars := []string{"a", "e", "t", " ", "o", "n", "\n", "é", "ü", "中", "😀"}
		c := chars[rng.IntN(6)]
		if k == 19 {
			c = chars[6+rng.IntN(len(chars)-6)]
		}
		return ot.Insertion(n, rng.IntN(n+1), c)
	}
}

func (e *editor) sendOp(op ot.Op) error {
	e.seq++
	p := &pending{id: fmt.Sprintf("%s-%d", e.name, e.seq), op: op, at: time.Now(), ver: e.version}
	e.outstanding = p
	e.run.sentAt.Store(p.id, p.at)
	return e.send(map[string]any{"type": "op", "doc": e.doc, "version": p.ver, "id": p.id, "op": op})
}

// handle applies one server message; closedLoop types the next op on ack.
func (e *editor) handle(m serverMsg, closedLoop bool) error {
	switch m.Type {
	case "ack":
		if e.outstanding == nil || e.outstanding.id != m.ID {
			return fmt.Errorf("%s: ack for %s, not awaited", e.name, m.ID)
		}
		if e.run.measuringNow() {
			e.run.ackLat.add(time.Since(e.outstanding.at))
			e.run.ackedOps.inc()
		}
		e.run.acked.Store(m.ID, m.Version)
		e.version = m.Version
		e.outstanding = nil
		if e.buffer != nil {
			op := *e.buffer
			e.buffer = nil
			return e.sendOp(op)
		}
		if closedLoop {
			return e.typeOne()
		}
	case "op":
		from := m.Version
		if m.From > 0 {
			from = m.From
		}
		if from != e.version+1 || m.Version < from {
			return fmt.Errorf("%s: op version %d (from %d) after %d", e.name, m.Version, from, e.version)
		}
		if m.Version > from && !e.synced() {
			// Pending edits cannot be moved over a composed op as the
			// server moves them (one op at a time): take those ops one by one.
			recs, err := e.api.opsBetween(context.Background(), e.doc, from, m.Version)
			if err != nil {
				return fmt.Errorf("%s: history %d..%d: %w", e.name, from, m.Version, err)
			}
			for _, rec := range recs {
				if err := e.handle(rec, closedLoop); err != nil {
					return err
				}
			}
			return nil
		}
		if at, ok := e.run.sentAt.Load(m.ID); ok && e.run.measuringNow() {
			e.run.remoteLat.add(time.Since(at.(time.Time)))
		}
		op, err := ot.Parse(m.Op)
		if err != nil {
			return fmt.Errorf("%s: op from the server: %w", e.name, err)
		}
		e.version = m.Version
		if e.outstanding != nil {
			if op, e.outstanding.op, err = ot.Transform(op, e.outstanding.op); err != nil {
				return fmt.Errorf("%s: transform: %w", e.name, err)
			}
		}
		if e.buffer != nil {
			var b ot.Op
			if op, b, err = ot.Transform(op, *e.buffer); err != nil {
				return fmt.Errorf("%s: transform: %w", e.name, err)
			}
			e.buffer = &b
		}
		if e.text, err = ot.Apply(e.text, op); err != nil {
			return fmt.Errorf("%s: apply: %w", e.name, err)
		}
	case "error":
		e.run.countError(m.Code)
		if m.ID != "" && e.outstanding != nil && m.ID == e.outstanding.id {
			return fmt.Errorf("%s: op %s refused: %s: %s", e.name, m.ID, m.Code, m.Message)
		}
	}
	return nil
}

// synced reports whether nothing local is waiting.
func (e *editor) synced() bool { return e.outstanding == nil && e.buffer == nil }

// pump is the editor's typing and message loop.
func (e *editor) pump() pump[serverMsg] {
	return pump[serverMsg]{name: e.name, msgs: e.msgs, ended: e.ended, rng: e.rng, handle: e.handle, typeOne: e.typeOne}
}

// loop types at rate ops/s (0: closed loop) until stop, then handles
// messages until it has nothing pending.
func (e *editor) loop(rate float64, stop <-chan struct{}) error {
	return e.pump().loop(rate, stop, e.synced)
}

// catchUp handles messages until the editor has reached version.
func (e *editor) catchUp(version int64) error {
	return e.pump().await(func() bool { return e.version >= version }, func() string {
		return fmt.Sprintf("stuck at version %d, server at %d", e.version, version)
	})
}
