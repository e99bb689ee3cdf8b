package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"tandem/ot"
)

// Doc is one open document: its text as this client sees it (the server's
// text plus local edits not yet acknowledged) and the client state machine
// of docs/protocol.md §9 that keeps it in step with the server.
//
// A Doc is safe for concurrent use: one mutex guards its state. The
// connection's reader goroutine handles server messages under it, and may
// hold it over a REST history fetch (when a composed op meets pending edits,
// or a rejoin comes back with content): local edits then wait.
type Doc struct {
	c  *Conn
	id string

	mu      sync.Mutex
	me      string // my user id
	gen     int    // the socket generation the last join was sent on
	joined  bool   // a joined message arrived on the current socket
	joining bool   // a join was sent and not answered
	loaded  bool   // st's text is a version of the server's
	role    string
	st      State // version, text, outstanding op and buffer

	sent         bool // the outstanding op was sent on the current membership
	refusals     int  // refusals of pending edits since the last ack
	caughtUp     bool // a join was answered since the last refusal
	rejoinWanted bool // leave and join again once the pending join is answered
	joinFailures int
	restFailures int

	presence      map[string]Presence // other connections, at version
	selection     []ot.Range          // mine, on the local text
	presenceDirty bool
	presenceTimer *time.Timer
	lastPresence  time.Time

	err     error         // why the document cannot be used any more
	dropped error         // the first pending edit dropped since the last WaitSynced
	wake    chan struct{} // closed and replaced at each change
	changes chan struct{} // Changes: one pending signal at most
}

// Presence is another connection in the document and its selection.
type Presence struct {
	Session   string
	User      UserInfo
	Selection []ot.Range // nil: no selection
}

// Open joins the document id and waits for its text. A document that does
// not exist or is not shared with the caller gives an *Error "not_found".
func (c *Conn) Open(ctx context.Context, id string) (*Doc, error) {
	d := &Doc{c: c, id: id, presence: map[string]Presence{}, wake: make(chan struct{}), changes: make(chan struct{}, 1)}
	d.st.IDPrefix = c.prefix
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("client: open %s: %w", id, c.err)
	}
	if c.docs[id] != nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("client: open %s: already open on this connection", id)
	}
	c.docs[id] = d
	d.me = c.user.ID
	c.mu.Unlock()
	d.mu.Lock()
	d.join()
	d.mu.Unlock()
	err := d.wait(ctx, func() bool { return d.loaded })
	if err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("client: open %s: %w", id, err)
	}
	return d, nil
}

// ID returns the document's id.
func (d *Doc) ID() string { return d.id }

// Text returns the local text: the server's plus pending local edits.
func (d *Doc) Text() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.Text()
}

// Version returns the last server version this client has seen.
func (d *Doc) Version() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.Version()
}

// Role returns the caller's role in the document: owner, editor or viewer.
func (d *Doc) Role() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.role
}

// Synced reports whether every local edit is acknowledged.
func (d *Doc) Synced() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.synced()
}

func (d *Doc) synced() bool { return d.loaded && d.st.Synced() }

// Err returns why the document can no longer be used (closed, deleted,
// access removed, out of step with the server, connection ended), or nil.
func (d *Doc) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// Changes returns a channel that receives after something changed: the
// text, the version, presence, the role or Err. Signals coalesce: read the
// state with the getters after each.
func (d *Doc) Changes() <-chan struct{} { return d.changes }

// Apply applies a local edit, an op against the current local text, and
// sends it (or buffers it while an earlier edit awaits its ack). A remote op
// may change the text at any time: to make an op from the text, use Edit.
func (d *Doc) Apply(op ot.Op) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.apply(op)
}

// Edit makes a local edit from the current local text: fn gets the text and
// its length in code points and returns the op to apply (as Apply), or an
// error, which Edit returns. fn runs under the Doc's lock, so no remote op
// changes the text meanwhile; it must not call the Doc's methods.
func (d *Doc) Edit(fn func(text string, length int) (ot.Op, error)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return d.err
	}
	op, err := fn(d.st.Text(), d.st.Len())
	if err != nil {
		return err
	}
	return d.apply(op)
}

// apply is Apply under the lock.
func (d *Doc) apply(op ot.Op) error {
	if d.err != nil {
		return d.err
	}
	if !d.loaded {
		return fmt.Errorf("client: doc %s: not loaded (reloading after a refusal)", d.id)
	}
	if err := ot.CheckOp(op); err != nil {
		return fmt.Errorf("client: doc %s: %w", d.id, err)
	}
	p, err := d.st.Edit(op)
	if err != nil {
		return fmt.Errorf("client: doc %s: %w", d.id, err)
	}
	if p != nil {
		d.refusals = 0
		d.sendOutstanding()
	}
	d.notify()
	return nil
}

// Insert inserts s at pos (in code points of the local text).
func (d *Doc) Insert(pos int, s string) error {
	return d.Edit(func(_ string, n int) (ot.Op, error) {
		if pos < 0 || pos > n {
			return ot.Op{}, fmt.Errorf("client: doc %s: insert at %d outside 0..%d", d.id, pos, n)
		}
		return ot.Insertion(n, pos, s), nil
	})
}

// Delete deletes n code points at pos.
func (d *Doc) Delete(pos, n int) error {
	return d.Edit(func(_ string, l int) (ot.Op, error) {
		if pos < 0 || n < 0 || pos+n > l {
			return ot.Op{}, fmt.Errorf("client: doc %s: delete %d at %d outside 0..%d", d.id, n, pos, l)
		}
		return ot.Deletion(l, pos, n), nil
	})
}

// Len returns the local text's length in code points.
func (d *Doc) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.st.Len()
}

// WaitSynced waits until every local edit is acknowledged. It returns an
// error if an edit was refused and dropped since the last call (the
// document is then reloaded from the server), or if the document failed.
func (d *Doc) WaitSynced(ctx context.Context) error {
	err := d.wait(ctx, d.synced)
	d.mu.Lock()
	defer d.mu.Unlock()
	if dropped := d.dropped; dropped != nil && err == nil {
		d.dropped = nil
		return dropped
	}
	return err
}

// WaitVersion waits until the client has seen version v.
func (d *Doc) WaitVersion(ctx context.Context, v int64) error {
	return d.wait(ctx, func() bool { return d.loaded && d.st.Version() >= v })
}

// wait waits until cond (called under the lock) holds, the document fails
// or ctx ends.
func (d *Doc) wait(ctx context.Context, cond func() bool) error {
	for {
		d.mu.Lock()
		ok, err, wake := cond(), d.err, d.wake
		d.mu.Unlock()
		if ok {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return fmt.Errorf("client: doc %s: %w", d.id, ctx.Err())
		}
	}
}

// Close leaves the document. Pending edits are committed if they reached
// the server; wait with WaitSynced first to be sure.
func (d *Doc) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if errors.Is(d.err, ErrClosed) {
		return nil
	}
	if d.joined || d.joining {
		d.c.send(leaveMsg{Type: "leave", Doc: d.id})
	}
	d.stop(ErrClosed)
	return nil
}

// stop ends the document with err: it is unregistered and its waiters woken.
func (d *Doc) stop(err error) {
	if d.err == nil {
		d.err = err
	}
	d.joined, d.joining = false, false
	if d.presenceTimer != nil {
		d.presenceTimer.Stop()
	}
	d.c.mu.Lock()
	if d.c.docs[d.id] == d {
		delete(d.c.docs, d.id)
	}
	d.c.mu.Unlock()
	d.notify()
}

// fail ends the document because its connection ended.
func (d *Doc) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stop(err)
}

// notify wakes waiters and signals Changes.
func (d *Doc) notify() {
	close(d.wake)
	d.wake = make(chan struct{})
	select {
	case d.changes <- struct{}{}:
	default:
	}
}

// runeLen is s's length in code points.
func runeLen(s string) int { return utf8.RuneCountInString(s) }
