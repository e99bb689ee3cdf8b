package collab

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"tandem/auth"
	"tandem/store"
	"tandem/store/httpapi"
)

// Close codes the server uses (docs/protocol.md lists them).
const (
	closeNormal    = websocket.StatusNormalClosure   // 1000
	closeGoingAway = websocket.StatusGoingAway       // 1001: shutting down; reconnect
	closePolicy    = websocket.StatusPolicyViolation // 1008: flooding, or too slow to keep up
	closeInternal  = websocket.StatusInternalError   // 1011: a document failed; reconnect
)

// reasonFlooding closes a connection that keeps going past a rate limit.
const reasonFlooding = "flooding"

// Conn is one WebSocket connection: one browser tab or program, joined to
// any number of documents. A goroutine of its own reads (conn_write.go:
// serve); a writer goroutine, while there is something to send, drains its
// bounded queue, several messages to a frame.
type Conn struct {
	hub     *Hub
	ws      *websocket.Conn
	session string
	link    bool // a relay node's link (link.go), not a client
	user    store.User
	cred    string // auth.Caller.Credential: closes the socket when revoked
	info    UserInfo
	out     *outbox

	// tokenGrants are a host app's token's: its roles and expiry (apps.go).
	tokenGrants *auth.Grants

	ctx      context.Context // ends when the connection is finished
	cancel   context.CancelFunc
	finished chan struct{} // closed when the handler has returned

	// kicked is closed to have the writer send a close frame with
	// closeCode and closeReason. (Cancelling a read's context would drop the
	// connection without one, and without what is still queued.)
	kicked      chan struct{}
	closeOnce   sync.Once
	closeCode   websocket.StatusCode
	closeReason string

	// The writer and a ping run on goroutines of their own, counted by bg,
	// which the socket's goroutine waits for (conn_write.go).
	wmu       sync.Mutex
	writing   bool // a writer runs, or may not start: not yet served, or closed
	ended     bool // the socket's goroutine is finishing: no more pings
	pinger    *time.Timer
	bg        sync.WaitGroup
	lastWrite time.Time // the writer's last frame (for coalescing)
	// deadlined: the connection keeps the write timeout itself
	// (frameWriter); a write then needs no context of its own.
	deadlined bool
	frame     []byte // the writer's frame buffer, kept while it runs

	// The reader's signs of life, for the pinger: when it last read a
	// message (unix ns), and whether it is handing one on now (to a busy
	// room, say), unable to read the pong meanwhile.
	heard    atomic.Int64
	handling atomic.Bool

	mu    sync.Mutex
	rooms map[string]*room // joined documents

	ops, presence, control *rate.Limiter // control: joins and leaves
	strikes                int           // rate-limited messages in a row
}

// ServeSocket upgrades GET /api/socket to protocol v1. The caller must be
// signed in (session cookie or bearer token); a browser's Origin must be the
// server's own or an allowed one; the subprotocol must be tandem.v1.
func (h *Hub) ServeSocket(w http.ResponseWriter, r *http.Request) {
	log := h.log
	caller, ok := auth.CallerFrom(r.Context())
	if !ok {
		httpapi.WriteError(w, r, log, store.Errorf(store.CodeUnauthorized, "sign in or send an API token"))
		return
	}
	if err := h.cfg.Origins.Check(r); err != nil {
		httpapi.WriteError(w, r, log, err)
		return
	}
	if !offersSubprotocol(r) {
		httpapi.WriteError(w, r, log, store.Errorf(store.CodeBadRequest, "the WebSocket subprotocol must be %s", Subprotocol))
		return
	}
	c := &Conn{
		hub:      h,
		session:  newSessionID(),
		user:     caller.User,
		cred:     caller.Credential,
		info:     callerInfo(caller),
		out:      newOutbox(h.cfg.OutQueue, true, h.cfg.BehindAfter),
		finished: make(chan struct{}),
		kicked:   make(chan struct{}),
		writing:  true, // until served
		ops:      rate.NewLimiter(rate.Limit(h.cfg.OpsPerSecond), h.cfg.OpsBurst),
		presence: rate.NewLimiter(rate.Limit(h.cfg.PresencePerSecond), h.cfg.PresenceBurst),
		control:  rate.NewLimiter(rate.Limit(h.cfg.JoinsPerSecond), 2*int(max(1, h.cfg.JoinsPerSecond))),
	}
	c.tokenGrants = caller.Grants
	// A flooding client's refusals (one per message refused, until
	// --flood-strikes of them close it) come on top of the queue: it is
	// closed for flooding, with them, not as too slow without them.
	c.out.maxPlain = h.cfg.OutQueue + h.cfg.FloodStrikes
	if err := h.addConn(c); err != nil {
		code, _ := store.ErrorCode(err)
		switch {
		case errors.Is(err, ErrClosing):
			w.Header().Set("Retry-After", "1")
		case code == store.CodeRateLimited:
			w.Header().Set("Retry-After", "10")
		}
		httpapi.WriteError(w, r, log, err)
		return
	}
	ws, err := websocket.Accept(smallBuffers{w, h.cfg.WriteTimeout}, r, &websocket.AcceptOptions{
		Subprotocols:   []string{Subprotocol},
		OriginPatterns: h.cfg.Origins.Trusted(), // checked above too; kept as a second lock
	})
	if err != nil {
		log.Debug("websocket accept failed", "err", err)
		h.removeConn(c)
		close(c.finished)
		return
	}
	c.deadlined = true
	shrinkSendBuffer(r, h.cfg.SendBuffer) // after the upgrade: a refused one leaves the connection to REST as it was
	ws.SetReadLimit(h.cfg.MaxFrameBytes)
	c.serve(ws, encode(helloMsg{Type: "hello", Session: c.session, User: c.info}), func() {
		defer c.closeAtExpiry()() // a host app's token closes the socket when it expires
		c.readLoop()
	})
}

// netConnKey holds a request's network connection in its context.
type netConnKey struct{}

// ConnContext is for http.Server.ConnContext: it keeps each connection in
// its requests' context, so that a socket can set its send buffer.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, netConnKey{}, c)
}

// shrinkSendBuffer sets the socket's kernel send buffer to n bytes (0:
// the system's). What a slow reader has not taken then waits in the
// connection's outbox, where it is compacted (outbox.go), not in the
// kernel, where it is not: there a reader can fall megabytes behind, and
// its pongs with it.
func shrinkSendBuffer(r *http.Request, n int) {
	c, _ := r.Context().Value(netConnKey{}).(net.Conn)
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if tcp, ok := c.(*net.TCPConn); ok && n > 0 {
		_ = tcp.SetWriteBuffer(n)
	}
}

func offersSubprotocol(r *http.Request) bool {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(p) == Subprotocol {
				return true
			}
		}
	}
	return false
}

func newSessionID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// send queues msg without waiting. A full queue means the peer is not
// keeping up: the connection is closed (it will reconnect and catch up) and
// send returns false, so no room ever waits for a slow client.
func (c *Conn) send(msg []byte) bool { return c.enqueue(queued{msg: msg}) }

// enqueue is send for a message that compaction may merge (an op, a
// presence), or not.
func (c *Conn) enqueue(q queued) bool {
	if c.out.push(q) {
		c.wake()
		return true
	}
	c.kick(closePolicy, "too slow: fell behind")
	return false
}

// enqueueAll is enqueue for several messages, in order, at once.
func (c *Conn) enqueueAll(qs []queued) bool {
	if c.out.pushAll(qs) {
		c.wake()
		return true
	}
	c.kick(closePolicy, "too slow: fell behind")
	return false
}

// sendDocError sends an error about a document (and op id).
func (c *Conn) sendDocError(doc, id string, err error) {
	var safe *store.Error
	switch code, _ := store.ErrorCode(err); {
	case code == store.CodeInternal:
		c.hub.log.Error("socket request failed", "doc", doc, "user", c.user.ID, "err", err)
	case !errors.As(err, &safe) && store.Unavailable(err):
		c.hub.log.Warn("socket request met an unavailable store", "doc", doc, "user", c.user.ID, "err", err)
	}
	q := queued{msg: errorFrame(doc, id, err)}
	if id != "" {
		q.answers = doc // an op's refusal ends its document's hold (outbox.go)
	}
	c.enqueue(q)
}

// sessionID names the connection: presence tells people apart by it.
func (c *Conn) sessionID() string { return c.session }

// userInfo is who the connection's user is, as others see them.
func (c *Conn) userInfo() UserInfo { return c.info }

// kick closes the connection with code and reason, once, without waiting:
// the writer sends what is queued (unless the peer is too slow for that)
// and then the close frame.
func (c *Conn) kick(code websocket.StatusCode, reason string) {
	c.closeOnce.Do(func() {
		c.closeCode, c.closeReason = code, reason
		close(c.kicked)
		c.wake()
	})
}

// remember adds a room to the joined set, unless the set is full; rooms
// call it as they admit the connection, so the set never misses a room that
// holds the connection.
func (c *Conn) remember(r *room) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.rooms) >= c.hub.cfg.DocsPerConn {
		return false
	}
	if c.rooms == nil {
		c.rooms = make(map[string]*room, 1)
	}
	c.rooms[r.id] = r
	return true
}

// forget drops a document from the joined set (the room has let it go).
func (c *Conn) forget(doc string) {
	c.mu.Lock()
	delete(c.rooms, doc)
	c.mu.Unlock()
	c.out.unhold(doc)
}

func (c *Conn) joined(doc string) *room {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rooms[doc]
}

// hasAck reports whether batch holds an ack, which is never held back.
func hasAck(batch [][]byte) bool {
	for _, m := range batch {
		if bytes.HasPrefix(m, ackPrefix) {
			return true
		}
	}
	return false
}

func (c *Conn) readLoop() {
	for {
		typ, data, err := c.ws.Read(c.ctx)
		if err != nil {
			return // closed by the peer, by kick, or too big (the library closes with 1009)
		}
		c.heard.Store(time.Now().UnixNano())
		if typ != websocket.MessageText {
			c.send(errorFrame("", "", store.Errorf(store.CodeBadRequest, "messages are JSON text frames")))
			continue
		}
		m, err := DecodeClientMessage(data)
		if err != nil {
			c.send(errorFrame(m.Doc, m.ID, err))
			continue
		}
		c.handling.Store(true)
		c.dispatch(m)
		c.handling.Store(false)
	}
}

// aliveSince reports whether the peer has shown it is there since t without
// a pong: a message came, or the reader is busy handing one on (a pong
// cannot be read until it is done). A room that falls behind then slows its
// members' readers; it does not make them look dead.
func (c *Conn) aliveSince(t time.Time) bool {
	return c.handling.Load() || c.heard.Load() >= t.UnixNano()
}

// limited applies a rate limiter; a connection that keeps going past it is
// closed.
func (c *Conn) limited(lim *rate.Limiter, m ClientMessage) bool {
	if lim.Allow() {
		c.strikes = 0
		return false
	}
	c.hub.metrics.limited.Inc()
	c.strikes++
	if c.strikes >= c.hub.cfg.FloodStrikes {
		c.kick(closePolicy, reasonFlooding)
		return true
	}
	c.send(errorFrame(m.Doc, m.ID, store.Errorf(store.CodeRateLimited, "too many messages; slow down")))
	return true
}

func (c *Conn) dispatch(m ClientMessage) {
	switch m.Type {
	case TypeJoin:
		if !c.limited(c.control, m) {
			c.join(m)
		}
	case TypeLeave:
		if c.limited(c.control, m) {
			return
		}
		if r := c.joined(m.Doc); r != nil {
			c.forget(m.Doc) // a join right after finds the document free
			r.post(leaveReq{c: c})
		}
	case TypeOp:
		if c.limited(c.ops, m) {
			return
		}
		r := c.joined(m.Doc)
		if r == nil {
			err := store.Errorf(store.CodeBadRequest, "join the document before sending ops")
			if c.hub.isClosing() {
				err = ErrClosing // the room let go of us because it drained
			}
			c.send(errorFrame(m.Doc, m.ID, err))
			return
		}
		if ok, _ := c.hub.allowWrite(c.user.ID, m.Op); !ok {
			c.hub.metrics.limited.Inc()
			c.send(errorFrame(m.Doc, m.ID, errWritingTooFast))
			return
		}
		// Until its answer is taken, the document's ops are not composed
		// for this client (outbox.go).
		c.out.hold(m.Doc)
		if err := r.send(c.ctx, submitReq{from: c, user: c.user.ID, base: m.Version, id: m.ID, op: m.Op, received: time.Now()}); err != nil {
			c.forget(m.Doc)
			c.send(errorFrame(m.Doc, m.ID, errRestarted))
		}
	case TypePresence:
		if c.limited(c.presence, m) {
			return
		}
		if r := c.joined(m.Doc); r != nil {
			_ = r.send(c.ctx, presenceReq{c: c, version: m.Version, sel: m.Selection})
		} else {
			c.send(errorFrame(m.Doc, "", store.Errorf(store.CodeBadRequest, "join the document before sending presence")))
		}
	}
}

func (c *Conn) join(m ClientMessage) {
	if c.joined(m.Doc) != nil {
		c.send(errorFrame(m.Doc, "", store.Errorf(store.CodeBadRequest, "already joined")))
		return
	}
	if err := c.joinRoom(m.Doc, m.Version, false); err != nil && c.ctx.Err() == nil {
		c.sendDocError(m.Doc, "", err)
	}
}

// joinRoom has the document's room admit the connection at version (-1:
// the content); vouched for a relay node's link.
func (c *Conn) joinRoom(doc string, version int64, vouched bool) error {
	reply := make(chan error, 1)
	return c.hub.withRoom(doc, func(r *room) error {
		if err := r.send(c.ctx, joinReq{c: c, version: version, reply: reply, vouched: vouched}); err != nil {
			return err
		}
		select {
		case err := <-reply:
			return err
		case <-r.done:
			return errRoomClosed
		case <-c.ctx.Done():
			// The room may admit us yet: make sure it lets go.
			r.post(leaveReq{c: c})
			return c.ctx.Err()
		}
	})
}

// leaveAll takes the connection out of every room it is in.
func (c *Conn) leaveAll() {
	c.mu.Lock()
	rooms := make([]*room, 0, len(c.rooms))
	for _, r := range c.rooms {
		rooms = append(rooms, r)
	}
	c.mu.Unlock()
	for _, r := range rooms {
		r.post(leaveReq{c: c})
	}
}

var _ subscriber = (*Conn)(nil)
