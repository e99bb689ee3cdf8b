package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"tandem/collab/client"
	"tandem/ot"
)

// run is what all editors of one benchmark share.
type run struct {
	ackLat, remoteLat latencies
	sentAt            sync.Map // op id → time.Time the op was sent
	errors            sync.Map // error code → *int64 count, under errMu
	errMu             sync.Mutex
	acked             sync.Map // op id → version
	measuring         chan struct{}
	ackedOps          countAfter
	remoteEvery       uint32     // Tandem's editors time the receipt of 1 op in this many
	composed          countAfter // composed ops received
	// sentByVersion holds, for the timed ops (timesRemote), when each
	// was sent, by its document and version once its author has its
	// ack: a composed op, which has no ids, is timed by the versions it
	// stands for.
	sentByVersion sync.Map // docVersion → time.Time
	// serverSample, if set, samples the server's CPU (its first node's)
	// at the start and end of the measured window.
	serverSample func(context.Context) (cpuSample, bool)
}

// timesRemote reports whether the receipt of op id is timed: 1 op in
// remoteEvery, picked by a hash of its id, so that every receiver times
// the same ops and a straggling editor counts as much as any.
func (r *run) timesRemote(id []byte) bool {
	if r.remoteEvery <= 1 {
		return true
	}
	h := uint32(2166136261) // FNV-1a
	for _, c := range id {
		h = (h ^ uint32(c)) * 16777619
	}
	return h%r.remoteEvery == 0
}

// docVersion is an op's place: its document and version.
type docVersion struct {
	doc string
	v   int64
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
// the protocol's client state machine, client.State (synchronized, awaiting
// an ack, awaiting an ack with a buffer of composed local edits). It does
// not use client.Doc: its socket, frame parser and timings are its own, for
// speed at 1,000 sockets. A full editor keeps the document's text and
// applies every op to it; a light one is a deliberately lighter variant for
// large runs: its State keeps only the text's length, all it needs to make
// valid edits, and while it has nothing pending it reads a remote op only as
// far as its lengths (State.RemoteLen). Every editor checks that each op
// fits the length it has.
//
// One goroutine (read) reads the socket and handles each message as it
// comes; typing (loop) and waiting (await) take the same lock.
type editor struct {
	api  *api // for history, when a composed op meets pending edits
	name string
	doc  string
	ws   *websocket.Conn
	run  *run
	rng  *rand.Rand
	full bool
	idle bool // reads nothing once joined

	mu         sync.Mutex
	err        error         // why the editor stopped (its name in it)
	waiting    bool          // someone awaits a change: signal it after each frame
	changed    chan struct{} // signalled after a frame while waiting, and on failure
	closedLoop bool
	joined     bool

	st     *client.State // from the join on
	sentAt time.Time     // when the outstanding op was first sent
	m      msg           // each message of a frame as it is handled
	opBuf  []byte        // the last op message sent
}

// editorKind is what dial makes: a full, light or idle editor.
type editorKind int

const (
	light editorKind = iota
	full
	idle
)

// dial opens the editor's socket with the user's token and joins doc.
func dial(ctx context.Context, base, token, doc, name string, r *run, seed uint64, kind editorKind) (*editor, error) {
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
		full: kind == full, idle: kind == idle, changed: make(chan struct{}, 1), api: newAPI(base)}
	e.api.token = token
	go e.read()
	err = e.send(map[string]any{"type": "join", "doc": doc})
	if err == nil {
		err = e.await(func() bool { return e.joined }, func() string { return "not joined within 30s" })
	}
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	return e, nil
}

// read reads frames into a queue that handleFrames works through. The
// socket is read, and the server's pings answered, however long handling
// takes (a history fetch, the editor's lock held by a send): as in a
// browser, whose socket does not wait for the page's script. Frames are
// read into buffers from frameBufs that handleFrames hands back once it
// has handled them (ws.Read would allocate a new one for each, and grow it
// from 512 bytes a read at a time).
func (e *editor) read() {
	in := &frameQueue{ready: make(chan struct{}, 1)}
	go e.handleFrames(in)
	for {
		f, err := readFrame(e.ws)
		in.put(f, err)
		if err != nil {
			return
		}
	}
}

// frameBuf is a buffer a frame is read into.
type frameBuf struct{ b []byte }

// frameBufs are the buffers of frames handled, shared by all editors: a
// socket waiting for its next frame holds none (10,000 idle sockets would
// hold 10,000). One larger than maxFrameBuf (a rare huge frame, a join's
// content) is not kept.
var frameBufs = sync.Pool{New: func() any { return &frameBuf{b: make([]byte, 0, newFrameBuf)} }}

const (
	maxFrameBuf = 64 << 10
	newFrameBuf = 8 << 10
)

func releaseFrame(f *frameBuf) {
	if cap(f.b) <= maxFrameBuf {
		f.b = f.b[:0]
		frameBufs.Put(f)
	}
}

// readFrame reads the next message into a buffer from frameBufs, growing it
// as needed, under the socket's read limit as ws.Read reads.
func readFrame(ws *websocket.Conn) (*frameBuf, error) {
	_, r, err := ws.Reader(context.Background())
	if err != nil {
		return nil, err
	}
	f := frameBufs.Get().(*frameBuf)
	buf := f.b[:0]
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, cap(buf))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			f.b = buf
			return f, nil
		}
		if err != nil {
			f.b = buf
			releaseFrame(f)
			return nil, err
		}
	}
}

// handleFrames handles each frame's messages (one message, or an array of
// them) in order, until the socket fails or a message cannot be handled.
// Each frame's buffer goes back to frameBufs once handled: nothing keeps a
// slice of a frame (msg's slices are valid only while the message is
// handled).
func (e *editor) handleFrames(in *frameQueue) {
	var frames []*frameBuf
	for {
		var err error
		frames, err = in.take(frames[:0])
		for _, f := range frames {
			if e.handleFrame(f.b, nil) != nil {
				return
			}
			releaseFrame(f)
		}
		if err != nil {
			e.handleFrame(nil, fmt.Errorf("socket closed: %w", err))
			return
		}
		clear(frames)
	}
}

// handleFrame handles one frame's messages, or the socket's end (readErr),
// and returns the error that stops the editor.
func (e *editor) handleFrame(frame []byte, readErr error) error {
	err := readErr
	e.mu.Lock()
	if err == nil && !(e.idle && e.joined) {
		err = eachMsg(frame, &e.m, e.handle)
		e.m = msg{} // its slices point into the frame, whose buffer is reused
	}
	if err != nil {
		e.err = fmt.Errorf("%s: %w", e.name, err)
	}
	wake := e.waiting || err != nil
	e.mu.Unlock()
	if wake {
		select {
		case e.changed <- struct{}{}:
		default:
		}
	}
	return err
}

// frameQueue holds frames read and not yet handled, and how reading ended.
type frameQueue struct {
	mu     sync.Mutex
	frames []*frameBuf
	err    error
	ready  chan struct{} // a token while frames or err wait
}

func (q *frameQueue) put(frame *frameBuf, err error) {
	q.mu.Lock()
	if err != nil {
		q.err = err
	} else {
		q.frames = append(q.frames, frame)
	}
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take waits for frames, appends them to into, and returns with them the
// error that ended reading, once every frame before it is taken.
func (q *frameQueue) take(into []*frameBuf) ([]*frameBuf, error) {
	for {
		q.mu.Lock()
		into = append(into, q.frames...)
		clear(q.frames)
		q.frames = q.frames[:0]
		err := q.err
		q.mu.Unlock()
		if len(into) > 0 || err != nil {
			return into, err
		}
		<-q.ready
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
	p, err := e.st.Edit(randomEdit(e.rng, e.st.Len()))
	if err != nil || p == nil {
		return err
	}
	return e.sendOp(p)
}

// randomEdit is one keystroke on a text of n code points: mostly a
// character typed, sometimes a backspace, sometimes non-ASCII.
func randomEdit(rng *rand.Rand, n int) ot.Op {
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

// sendOp sends the outstanding op p.
func (e *editor) sendOp(p *client.Pending) error {
	e.sentAt = time.Now()
	e.run.sentAt.Store(p.ID, e.sentAt)
	// What send(map[string]any{"type": "op", "doc": …, "version": …, "id": …,
	// "op": …}) sends, written straight into a buffer the editor keeps (the
	// socket has copied it when Write returns): a closed loop sends one for
	// every op acked.
	b := append(e.opBuf[:0], `{"type":"op","doc":`...)
	b = appendJSONString(b, e.doc)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, p.Base, 10)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, p.ID)
	b = append(b, `,"op":`...)
	b = append(p.Orig.AppendJSON(b), '}')
	e.opBuf = b
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return e.ws.Write(ctx, websocket.MessageText, b)
}

// appendJSONString appends s as a JSON string: as it is between quotes if
// it is printable ASCII with nothing to escape (ids and names), else as
// encoding/json writes it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// handle takes one server message; in a closed loop it types the next op
// on ack.
func (e *editor) handle(m *msg) error {
	switch string(m.typ) {
	case "joined":
		var j slowMsg
		if err := json.Unmarshal(m.raw, &j); err != nil || j.Content == nil {
			return fmt.Errorf("joined without content (%v)", err)
		}
		if e.full {
			e.st = client.NewState(*j.Content, m.version)
		} else {
			e.st = client.NewLengthState(utf8.RuneCountInString(*j.Content), m.version)
		}
		e.st.IDPrefix = e.name
		e.joined = true
	case "ack":
		if o := e.outstandingOp(); o == nil || o.ID != string(m.id) {
			return fmt.Errorf("ack for %s, not awaited", m.id)
		}
		if e.run.measuringNow() {
			e.run.ackLat.add(time.Since(e.sentAt))
			e.run.ackedOps.inc()
		}
		e.run.acked.Store(string(m.id), m.version)
		if e.run.timesRemote(m.id) {
			e.run.sentByVersion.Store(docVersion{e.doc, m.version}, e.sentAt)
		}
		if p := e.st.Ack(m.version); p != nil {
			return e.sendOp(p)
		}
		if e.closedLoop {
			return e.typeOne()
		}
	case "op":
		return e.remote(m)
	case "error":
		var em slowMsg
		_ = json.Unmarshal(m.raw, &em)
		if !e.joined {
			return fmt.Errorf("join: %s: %s", em.Code, em.Message)
		}
		e.run.countError(em.Code)
		if o := e.outstandingOp(); len(m.id) > 0 && o != nil && string(m.id) == o.ID {
			return fmt.Errorf("op %s refused: %s: %s", m.id, em.Code, em.Message)
		}
	}
	return nil
}

// remote takes someone else's op (or a composed run of them).
func (e *editor) remote(m *msg) (err error) {
	if e.st == nil {
		return fmt.Errorf("op version %d before joined", m.version)
	}
	from := m.version
	if m.from > 0 {
		from = m.from
	}
	composed := from < m.version
	// A composed op is timed once it has been taken whole; met with an
	// edit pending, its ops are read from the history and timed one by one.
	timeWhole := composed && e.run.measuringNow()
	if timeWhole {
		e.run.composed.inc()
		arrived := time.Now()
		defer func() {
			if timeWhole && err == nil {
				e.run.timeComposed(e.doc, from, m.version, arrived)
			}
		}()
	}
	if !composed && e.run.timesRemote(m.id) && e.run.measuringNow() {
		if at, ok := e.run.sentAt.Load(string(m.id)); ok {
			e.run.remoteLat.add(time.Since(at.(time.Time)))
		}
	}
	if !e.full && e.st.Synced() {
		// Nothing to transform, no text: the op's lengths are enough.
		base, target, err := opLens(m.op)
		if err != nil {
			return fmt.Errorf("op from the server: %w", err)
		}
		return e.st.RemoteLen(from, m.version, base, target)
	}
	op, err := ot.Parse(m.op)
	if err != nil {
		return fmt.Errorf("op from the server: %w", err)
	}
	err = e.st.Receive(from, m.version, op)
	if !errors.Is(err, client.ErrNeedHistory) {
		return err
	}
	timeWhole = false
	// Pending edits cannot be moved over a composed op as the server moves
	// them (one op at a time): take those ops one by one.
	recs, err := e.api.opsBetween(context.Background(), e.doc, from, m.version)
	if err != nil {
		return fmt.Errorf("history %d..%d: %w", from, m.version, err)
	}
	for i := range recs {
		if err := e.remote(&recs[i]); err != nil {
			return err
		}
	}
	return nil
}

// timeComposed times the receipt, at arrived, of the timed ops among
// versions from..to of doc, which came as one composed op. An op whose
// author has not had its ack yet is not timed: a composed op goes to a
// reader far behind, long after the ack.
func (r *run) timeComposed(doc string, from, to int64, arrived time.Time) {
	for v := from; v <= to; v++ {
		if at, ok := r.sentByVersion.Load(docVersion{doc, v}); ok {
			r.remoteLat.add(arrived.Sub(at.(time.Time)))
		}
	}
}

// outstandingOp is the op awaiting its ack, or nil (nil before joined).
func (e *editor) outstandingOp() *client.Pending {
	if e.st == nil {
		return nil
	}
	return e.st.Outstanding()
}

// synced reports whether nothing local is waiting.
func (e *editor) synced() bool { return e.st == nil || e.st.Synced() }

// final is the editor as checkConvergence sees it.
func (e *editor) final() final {
	e.mu.Lock()
	defer e.mu.Unlock()
	f := final{name: e.name, doc: e.doc, full: e.full}
	if e.st != nil {
		f.text, f.length, f.version = e.st.Text(), e.st.Len(), e.st.Version()
	}
	return f
}

// loop types at rate ops/s (0: a closed loop, the next op when the last is
// acknowledged) until stop, then waits until it has nothing pending.
func (e *editor) loop(rate float64, stop <-chan struct{}) error {
	// At a rate only this goroutine types, so the phase needs no lock.
	tick, release := typingTicks(rate, e.rng)
	defer release()
	e.mu.Lock()
	e.closedLoop = rate <= 0
	err := e.err
	if err == nil && e.closedLoop {
		err = e.typed(e.typeOne())
	}
	e.mu.Unlock()
	for err == nil {
		select {
		case <-tick:
			e.mu.Lock()
			if err = e.err; err == nil {
				err = e.typed(e.typeOne())
			}
			e.mu.Unlock()
		case <-e.changed: // the reader failed, or a stale signal
			e.mu.Lock()
			err = e.err
			e.mu.Unlock()
		case <-stop:
			e.mu.Lock()
			e.closedLoop = false
			e.mu.Unlock()
			return e.await(e.synced, func() string { return "edits not acknowledged within 30s" })
		}
	}
	return err
}

// typed names a typing error and keeps it as the editor's failure.
func (e *editor) typed(err error) error {
	if err != nil && e.err == nil {
		e.err = fmt.Errorf("%s: %w", e.name, err)
	}
	return e.err
}

// await waits until done holds (checked under the lock), for at most
// settleTimeout.
func (e *editor) await(done func() bool, stuck func() string) error {
	deadline := time.NewTimer(settleTimeout)
	defer deadline.Stop()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.waiting = true
	defer func() { e.waiting = false }()
	for {
		if e.err != nil {
			return e.err
		}
		if done() {
			return nil
		}
		e.mu.Unlock()
		select {
		case <-e.changed:
		case <-deadline.C:
			e.mu.Lock()
			return fmt.Errorf("%s: %s", e.name, stuck())
		}
		e.mu.Lock()
	}
}

// catchUp waits until the editor has reached version.
func (e *editor) catchUp(version int64) error {
	return e.await(func() bool { return e.st.Version() >= version }, func() string {
		return fmt.Sprintf("stuck at version %d, server at %d", e.st.Version(), version)
	})
}
