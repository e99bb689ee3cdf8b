package collab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"tandem/ot"
	"tandem/store"
	"tandem/store/httpapi"
)

// The link protocol runs between a relay node and a document's owner over
// an internal WebSocket (GET /api/cluster/link, authenticated by the
// cluster secret; never a browser). It is protocol v1 turned around: the
// relay speaks for many editors at once, naming the author of each op and
// the session of each presence, and the owner answers with the messages its
// clients get (joined, op, presence), acks and errors naming the author too.
//
// Relay to owner, one JSON object per frame:
//
//	{"type":"join","doc":D,"version":V}          V: the relay's version, or -1 for the content
//	{"type":"op","doc":D,"user":U,"id":I,"version":B,"op":[...]}
//	{"type":"presence","doc":D,"session":S,"info":{...},"version":V,"selection":[...]|null,"left":bool}
const linkPath = "/api/cluster/link"

// linkSecretHeader carries the cluster secret on a link's handshake.
const linkSecretHeader = "Tandem-Cluster-Secret"

// linkMsg is a message from a relay.
type linkMsg struct {
	Type      string          `json:"type"`
	Doc       string          `json:"doc"`
	Version   int64           `json:"version"`
	User      string          `json:"user,omitempty"`
	ID        string          `json:"id,omitempty"`
	Op        json.RawMessage `json:"op,omitempty"`
	Session   string          `json:"session,omitempty"`
	Info      *UserInfo       `json:"info,omitempty"`
	Selection []ot.Range      `json:"selection"`
	Left      bool            `json:"left,omitempty"`
}

// ServeLink accepts a link from a relay node (GET /api/cluster/link). It
// answers 404 unless this hub is in a cluster, and 401 without the
// cluster's secret.
func (h *Hub) ServeLink(w http.ResponseWriter, r *http.Request) {
	if h.cluster == nil {
		httpapi.WriteError(w, r, h.log, store.Errorf(store.CodeNotFound, "not in a cluster"))
		return
	}
	if !h.cluster.secretOK(r.Header.Get(linkSecretHeader)) {
		h.cluster.badSecret.Do(func() {
			h.log.Warn("cluster link refused: wrong secret (logged at most once a minute)", "remote", r.RemoteAddr)
		})
		httpapi.WriteError(w, r, h.log, store.Errorf(store.CodeUnauthorized, "wrong cluster secret"))
		return
	}
	c := &Conn{
		hub:      h,
		session:  "link:" + newSessionID(),
		link:     true,
		out:      newOutbox(linkQueue*h.cfg.OutQueue, false, 0), // the relay's copy needs every op
		finished: make(chan struct{}),
		kicked:   make(chan struct{}),
		writing:  true, // until served
	}
	if err := h.addConn(c); err != nil {
		httpapi.WriteError(w, r, h.log, err)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true}) // no browser: the secret is the check
	if err != nil {
		h.removeConn(c)
		close(c.finished)
		return
	}
	ws.SetReadLimit(linkReadLimit(h.cfg))
	h.metrics.linksIn.Inc()
	c.serve(ws, nil, func() {
		defer h.metrics.linksIn.Dec()
		c.linkReadLoop()
	})
}

// linkReadLimit bounds a link's frames. Its peer is a node with the
// cluster secret, so this only has to admit the largest honest frame: a
// writer's batch of maxFrameMsgs messages, each an op of up to
// MaxFrameBytes whose every character may be escaped (six bytes), or a
// joined message with the content or a catch-up of up to historyBudget
// documents' worth of ops, escaped too.
func linkReadLimit(cfg Config) int64 {
	return max(maxFrameMsgs*6*cfg.MaxFrameBytes, int64(6*(historyBudget+1)*cfg.MaxDocBytes)) + 1<<20
}

// encodeLink marshals a message for a link without escaping HTML
// characters (json.Marshal would make each of <, > and & six bytes).
func encodeLink(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("collab: encoding %T: %v", v, err))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// linkQueue is how many times a client's queue a link may hold: it carries
// a whole node's share of a room.
const linkQueue = 64

// linkReadLoop reads a relay's messages until the link closes.
func (c *Conn) linkReadLoop() {
	for {
		_, data, err := c.ws.Read(c.ctx)
		if err != nil {
			return
		}
		c.heard.Store(time.Now().UnixNano())
		var m linkMsg
		if err := json.Unmarshal(data, &m); err != nil {
			c.kick(closePolicy, "malformed link message")
			return
		}
		c.handling.Store(true)
		c.dispatchLink(m)
		c.handling.Store(false)
	}
}

func (c *Conn) dispatchLink(m linkMsg) {
	switch m.Type {
	case "join":
		if err := c.joinRoom(m.Doc, m.Version, true); err != nil && c.ctx.Err() == nil {
			c.send(errorFrame(m.Doc, "", err))
		}
	case "op":
		op, err := ot.Parse(m.Op)
		author := linkAuthor{c: c, doc: m.Doc, user: m.User}
		r := c.joined(m.Doc)
		switch {
		case err != nil:
			author.done(nil, m.ID, 0, store.Errorf(store.CodeInvalidOp, "%v", err))
		case r == nil:
			author.done(nil, m.ID, 0, errRestarted)
		default:
			q := submitReq{from: author, user: m.User, base: m.Version, id: m.ID, op: op, received: time.Now(), vouched: true}
			if r.send(c.ctx, q) != nil {
				author.done(nil, m.ID, 0, errRestarted)
			}
		}
	case "presence":
		if r := c.joined(m.Doc); r != nil && m.Info != nil {
			_ = r.send(c.ctx, presenceReq{c: c, version: m.Version, sel: m.Selection, session: m.Session, info: *m.Info, left: m.Left})
		}
	default:
		c.kick(closePolicy, "unknown link message")
	}
}

// linkAuthor is an op forwarded by a relay: its answer goes back over the
// link, naming the author, for the relay to pass on. It has no membership
// of its own (via is nil), so the link also gets the op itself, which the
// relay needs for its copy of the document.
type linkAuthor struct {
	c         *Conn
	doc, user string
}

func (linkAuthor) via() (subscriber, *member) { return nil, nil }

func (a linkAuthor) done(_ *room, id string, version int64, err error) {
	if err != nil {
		code, msg := store.ErrorCode(err)
		a.c.send(encode(errorMsg{Type: "error", Doc: a.doc, ID: id, User: a.user, Code: code, Message: msg}))
		return
	}
	a.c.send(encode(ackMsg{Type: "ack", Doc: a.doc, ID: id, Version: version, User: a.user}))
}

func (a linkAuthor) gone(r *room, id string, _ error) { a.done(r, id, 0, errRestarted) }

var _ author = linkAuthor{}

// errNotOwner refuses a link to a node that does not own the document (any
// more): the relay reads the lease again and links to the owner.
var errNotOwner = store.Errorf(store.CodeUnavailable, "this node does not own the document")
