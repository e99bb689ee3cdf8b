package client

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Options configure a connection. Set Token for a program (an API token
// "tdm_…" or a host app's JWT, both sent as "Authorization: Bearer"), or an
// HTTPClient whose Jar holds a session cookie.
type Options struct {
	// Token is sent as "Authorization: Bearer <Token>" on the handshake and
	// on REST calls.
	Token string
	// HTTPClient makes the handshakes and REST calls; its Jar, if any,
	// carries a session cookie. Default: a client with a 30 s timeout.
	HTTPClient *http.Client
	// Header is added to the handshakes and REST calls.
	Header http.Header
	// MinBackoff and MaxBackoff bound the waits between reconnects
	// (default 100 ms and 10 s).
	MinBackoff, MaxBackoff time.Duration
	// RESTBytes is the size of an op message above which the op is sent
	// over REST rather than the socket, whose frame limit is 256 KiB by
	// default (default 64 KiB, as the browser client).
	RESTBytes int
	// RateLimitWait is how long to wait before re-sending an op refused as
	// rate_limited (default 1 s).
	RateLimitWait time.Duration
}

// Conn is one WebSocket to a Tandem server, shared by the documents opened
// on it. It reconnects on its own when the socket drops, rejoins each open
// document and re-sends its pending edit. Its methods are safe for
// concurrent use.
type Conn struct {
	base   string
	opts   Options
	hc     *http.Client
	header http.Header // handshake and REST headers, credentials included
	prefix string      // random op id prefix, unique to this Conn

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	done   chan struct{} // closed when the run loop has ended

	mu      sync.Mutex
	ws      *websocket.Conn // nil while offline
	gen     int             // counts sockets: a document joins once per socket
	session string
	user    UserInfo
	docs    map[string]*Doc
	err     error // why the connection ended
	// onSent, if set (tests), is called after each op is written.
	onSent func(id string)
}

// Dial connects to the server at baseURL (such as "https://tandem.example"),
// and waits for its hello. A refused handshake returns an *Error carrying
// the server's code ("unauthorized", "rate_limited", …).
func Dial(ctx context.Context, baseURL string, opts Options) (*Conn, error) {
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(10*time.Second, opts.MinBackoff)
	}
	if opts.RESTBytes <= 0 {
		opts.RESTBytes = 64 << 10
	}
	if opts.RateLimitWait <= 0 {
		opts.RateLimitWait = time.Second
	}
	c := &Conn{base: strings.TrimRight(baseURL, "/"), opts: opts, hc: opts.HTTPClient,
		header: opts.Header.Clone(), docs: map[string]*Doc{}, done: make(chan struct{})}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: 30 * time.Second}
	}
	if c.header == nil {
		c.header = http.Header{}
	}
	if opts.Token != "" {
		c.header.Set("Authorization", "Bearer "+opts.Token)
	}
	var b [9]byte
	_, _ = rand.Read(b[:])
	c.prefix = base64.RawURLEncoding.EncodeToString(b[:])
	ws, err := c.handshake(ctx)
	if err != nil {
		return nil, err
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.run(ws)
	return c, nil
}

// handshake opens a socket and reads its hello.
func (c *Conn) handshake(ctx context.Context) (*websocket.Conn, error) {
	u := "ws" + strings.TrimPrefix(c.base, "http") + "/api/socket"
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		HTTPClient: c.hc, HTTPHeader: c.header, Subprotocols: []string{Subprotocol},
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, fmt.Errorf("client: dial %s: %w", u, httpError(resp))
		}
		return nil, fmt.Errorf("client: dial %s: %w", u, err)
	}
	ws.SetReadLimit(256 << 20) // a joined document may be large; the server bounds it
	_, data, err := ws.Read(ctx)
	if err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("client: read hello: %w", err)
	}
	msgs, err := decodeFrame(data)
	if err == nil && (len(msgs) == 0 || msgs[0].Type != "hello") {
		err = fmt.Errorf("first message is not hello: %.200s", data)
	}
	var user UserInfo
	if err == nil {
		user, err = msgs[0].userInfo()
	}
	if err != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("client: %w", err)
	}
	c.mu.Lock()
	c.ws, c.session, c.user = ws, msgs[0].Session, user
	c.gen++
	c.mu.Unlock()
	// Anything after the hello in its frame is for documents not joined yet.
	return ws, nil
}

// User returns who the server says this connection is.
func (c *Conn) User() UserInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.user
}

// Session returns the id of the current socket (it changes on reconnect).
func (c *Conn) Session() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// Err returns why the connection ended, or nil while it runs.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close leaves every document, closes the socket and stops reconnecting.
func (c *Conn) Close() error {
	c.mu.Lock()
	docs := make([]*Doc, 0, len(c.docs))
	for _, d := range c.docs {
		docs = append(docs, d)
	}
	c.mu.Unlock()
	for _, d := range docs {
		_ = d.Close()
	}
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	if ws != nil {
		// Not under the lock: the reader needs it to finish.
		go ws.Close(websocket.StatusNormalClosure, "")
	}
	c.cancel()
	<-c.done
	return nil
}

// run reads the socket until it drops, then reconnects with backoff,
// until Close or a failure a reconnect cannot cure.
func (c *Conn) run(ws *websocket.Conn) {
	defer close(c.done)
	var err error
	for {
		err = c.read(ws)
		c.offline()
		if c.ctx.Err() != nil {
			err = ErrClosed
			break
		}
		if errors.Is(err, errProtocol) {
			break
		}
		if ws, err = c.redial(); err != nil {
			break
		}
	}
	c.mu.Lock()
	c.err = err
	docs := c.docs
	c.docs = map[string]*Doc{}
	c.mu.Unlock()
	for _, d := range docs {
		d.fail(err)
	}
}

// errProtocol marks a server message this client cannot understand: a
// server bug or a different protocol, which reconnecting does not cure.
var errProtocol = errors.New("protocol error")

// read hands each message of each frame to its document, in order.
func (c *Conn) read(ws *websocket.Conn) error {
	c.mu.Lock()
	me, gen := c.user.ID, c.gen
	c.mu.Unlock()
	for _, d := range c.openDocs() {
		d.connected(me, gen)
	}
	for {
		_, data, err := ws.Read(c.ctx)
		if err != nil {
			return fmt.Errorf("client: read: %w", err)
		}
		msgs, err := decodeFrame(data)
		if err != nil {
			ws.Close(websocket.StatusProtocolError, "bad frame")
			return fmt.Errorf("client: %w: %w", errProtocol, err)
		}
		for i := range msgs {
			if msgs[i].Doc == "" {
				continue // hello again, or an error about no document
			}
			c.mu.Lock()
			d := c.docs[msgs[i].Doc]
			c.mu.Unlock()
			if d != nil {
				d.receive(&msgs[i])
			}
		}
	}
}

// offline marks the socket gone and tells each document.
func (c *Conn) offline() {
	c.mu.Lock()
	if c.ws != nil {
		c.ws.CloseNow()
	}
	c.ws = nil
	c.mu.Unlock()
	for _, d := range c.openDocs() {
		d.disconnected()
	}
}

// redial reconnects with exponential backoff. A 401 or 403 ends it: the
// credentials are no longer good.
func (c *Conn) redial() (*websocket.Conn, error) {
	wait := c.opts.MinBackoff
	for {
		select {
		case <-c.ctx.Done():
			return nil, ErrClosed
		case <-time.After(wait):
		}
		ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
		ws, err := c.handshake(ctx)
		cancel()
		if err == nil {
			return ws, nil
		}
		if code := Code(err); code == "unauthorized" || code == "forbidden" {
			return nil, err
		}
		var e *Error
		wait = min(2*wait, c.opts.MaxBackoff)
		if errors.As(err, &e) && e.RetryAfter > wait {
			wait = e.RetryAfter
		}
	}
}

func (c *Conn) openDocs() []*Doc {
	c.mu.Lock()
	defer c.mu.Unlock()
	docs := make([]*Doc, 0, len(c.docs))
	for _, d := range c.docs {
		docs = append(docs, d)
	}
	return docs
}

// send writes one message; false when offline or the write failed (the
// read loop then sees the socket drop).
func (c *Conn) send(msg any) bool {
	_, ok := c.sendGen(msg)
	return ok
}

// sendGen is send that also returns the generation of the socket used.
func (c *Conn) sendGen(msg any) (int, bool) {
	c.mu.Lock()
	ws, gen := c.ws, c.gen
	c.mu.Unlock()
	if ws == nil {
		return gen, false
	}
	data, err := jsonMarshal(msg)
	if err != nil {
		return gen, false
	}
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageText, data); err != nil {
		ws.CloseNow()
		return gen, false
	}
	return gen, true
}

// dropSocket closes the current socket without a close handshake, as a
// dead network would (tests).
func (c *Conn) dropSocket() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ws != nil {
		c.ws.CloseNow()
	}
}
