package client

import (
	"errors"
	"fmt"
	"strconv"

	"tandem/ot"
)

// State is the client state machine of docs/protocol.md §9 for one
// document, without I/O: the last server version seen, the local text (or
// only its length), the outstanding op and the buffer of local edits made
// while it awaits its ack. Doc drives one over its socket; programs with a
// transport of their own (the load generator, tests that script the
// protocol) drive one directly. A State is not safe for concurrent use.
type State struct {
	// IDPrefix starts the ids of the ops it makes: IDPrefix-1, IDPrefix-2…
	// It must be unique to this client in the document (Doc uses a random
	// one).
	IDPrefix string

	version     int64
	text        string     // the local text, but for unapplied
	unapplied   []composed // ops made or received since text, composed in runs
	nUnapplied  int        // how many
	length      int        // in code points
	lengthOnly  bool       // text is not kept
	counter     int
	outstanding *Pending
	buffer      *ot.Op
}

// Pending is an op sent and not yet acknowledged.
type Pending struct {
	ID   string
	Base int64 // the version it was made against
	// Orig is the op as first sent: a re-send must be identical, for the
	// server's dedupe by id (§10).
	Orig ot.Op
	// Op is Orig transformed over the remote ops since: where it stands on
	// the local text.
	Op      ot.Op
	Rebased bool // re-made as a new op at a later version (Rebase)
}

// ErrNeedHistory is Remote's answer to a composed op met while edits are
// pending: the caller must take the single ops it stands for from the
// history (GET /api/docs/{id}/ops) and hand each to Remote (§5).
var ErrNeedHistory = errors.New("a composed op while edits are pending: take its ops from the history")

// NewState returns a state at version holding text.
func NewState(text string, version int64) *State {
	s := &State{}
	s.Reset(text, version)
	return s
}

// NewLengthState returns a state that keeps only the text's length, all a
// program that makes random edits needs: cheaper for load generators.
func NewLengthState(length int, version int64) *State {
	return &State{version: version, length: length, lengthOnly: true}
}

// Reset adopts text at version and drops pending edits (a join with
// content, a resync).
func (s *State) Reset(text string, version int64) {
	s.text, s.length, s.version = text, runeLen(text), version
	clear(s.unapplied)
	s.unapplied, s.nUnapplied = s.unapplied[:0], 0
	s.outstanding, s.buffer = nil, nil
}

// Version is the last server version seen.
func (s *State) Version() int64 { return s.version }

// Text is the local text: the server's with pending edits applied ("" for a
// length-only state).
func (s *State) Text() string {
	s.catchUp()
	return s.text
}

// Len is the local text's length in code points.
func (s *State) Len() int { return s.length }

// Outstanding is the op awaiting its ack, or nil.
func (s *State) Outstanding() *Pending { return s.outstanding }

// Buffer is the composition of the local edits made while an op is
// outstanding, or nil.
func (s *State) Buffer() *ot.Op { return s.buffer }

// Synced reports whether every local edit is acknowledged.
func (s *State) Synced() bool { return s.outstanding == nil && s.buffer == nil }

// Edit applies a local edit made on the local text. With nothing
// outstanding it becomes the outstanding op, which Edit returns to be sent;
// else it joins the buffer and Edit returns nil. An op that changes nothing
// is dropped.
func (s *State) Edit(op ot.Op) (*Pending, error) {
	if err := s.apply(op); err != nil {
		return nil, fmt.Errorf("local edit: %w", err)
	}
	if op.IsNoop() {
		return nil, nil
	}
	if s.outstanding == nil {
		s.outstanding = &Pending{ID: s.nextID(), Base: s.version, Orig: op, Op: op}
		return s.outstanding, nil
	}
	if s.buffer == nil {
		s.buffer = &op
		return nil, nil
	}
	b, err := ot.Compose(*s.buffer, op)
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err) // cannot happen: op fits the text
	}
	s.buffer = &b
	return nil, nil
}

// Ack records the outstanding op's ack at version. The buffer, if any,
// becomes the new outstanding op, which Ack returns to be sent.
func (s *State) Ack(version int64) *Pending {
	s.version = version
	s.outstanding = nil
	if s.buffer == nil {
		return nil
	}
	s.outstanding = &Pending{ID: s.nextID(), Base: version, Orig: *s.buffer, Op: *s.buffer}
	s.buffer = nil
	return s.outstanding
}

// Remote applies someone else's op, which stands for versions from..version
// (from == version for a single op; from must be Version()+1): it is
// transformed over the outstanding op and the buffer, the server's op on
// the left. Remote returns the op as applied to the local text. On an error
// nothing changed; ErrNeedHistory asks for the single ops of a composed op.
func (s *State) Remote(from, version int64, op ot.Op) (ot.Op, error) {
	if from != s.version+1 || version < from {
		return ot.Op{}, fmt.Errorf("got version %d (from %d) after %d", version, from, s.version)
	}
	if version > from && !s.Synced() {
		return ot.Op{}, ErrNeedHistory
	}
	o := op
	var out, buf ot.Op
	var err error
	if s.outstanding != nil {
		if o, out, err = ot.Transform(o, s.outstanding.Op); err != nil {
			return ot.Op{}, fmt.Errorf("transform version %d over the outstanding op: %w", version, err)
		}
	}
	if s.buffer != nil {
		if o, buf, err = ot.Transform(o, *s.buffer); err != nil {
			return ot.Op{}, fmt.Errorf("transform version %d over the buffer: %w", version, err)
		}
	}
	if err := s.apply(o); err != nil {
		return ot.Op{}, fmt.Errorf("version %d: %w", version, err)
	}
	s.version = version
	if s.outstanding != nil {
		s.outstanding.Op = out
	}
	if s.buffer != nil {
		s.buffer = &buf
	}
	return o, nil
}

// Receive is Remote for a caller that does not need the op as applied. A
// length-only state with an outstanding op and nothing buffered then brings
// only its outstanding op over op, and takes the length they make together:
// Transform's two results end at the same length, and the op as applied
// starts at the outstanding op's target length, which it checks as Remote
// does. Anything else is Remote.
func (s *State) Receive(from, version int64, op ot.Op) error {
	if !s.lengthOnly || s.outstanding == nil || s.buffer != nil {
		_, err := s.Remote(from, version, op)
		return err
	}
	if from != s.version+1 || version < from {
		return fmt.Errorf("got version %d (from %d) after %d", version, from, s.version)
	}
	if version > from {
		return ErrNeedHistory
	}
	out, err := ot.TransformOver(s.outstanding.Op, op)
	if err != nil {
		return fmt.Errorf("transform version %d over the outstanding op: %w", version, err)
	}
	if n := s.outstanding.Op.TargetLen(); n != s.length {
		return fmt.Errorf("version %d: op of base length %d on a text of %d code points", version, n, s.length)
	}
	s.version, s.length = version, out.TargetLen()
	s.outstanding.Op = out
	return nil
}

// RemoteLen is Remote for a synchronized length-only state that knows
// only the op's lengths (a load generator skips parsing it).
func (s *State) RemoteLen(from, version int64, base, target int) error {
	if from != s.version+1 || version < from {
		return fmt.Errorf("got version %d (from %d) after %d", version, from, s.version)
	}
	if !s.lengthOnly || !s.Synced() {
		return errors.New("RemoteLen needs a synchronized length-only state")
	}
	if base != s.length {
		return fmt.Errorf("version %d: op of base length %d on a text of %d code points", version, base, s.length)
	}
	s.version, s.length = version, target
	return nil
}

// Drop discards the pending edits (they will never apply) and reports
// whether there were any. The local text keeps them: Reset it.
func (s *State) Drop() bool {
	had := s.outstanding != nil
	s.outstanding, s.buffer = nil, nil
	return had
}

// Rebase re-makes the outstanding op as a new op, with a new id, at the
// current version, and returns it to be sent: for an op the server refused
// as too far behind, once a catch-up has shown it was never applied (§10).
func (s *State) Rebase() *Pending {
	o := s.outstanding
	s.outstanding = &Pending{ID: s.nextID(), Base: s.version, Orig: o.Op, Op: o.Op, Rebased: true}
	return s.outstanding
}

// maxUnapplied is how many ops the text may lag behind: applying each op
// rewrites the whole text, composing it does not, so ops are composed
// and applied in one pass (a load generator's full editors receive every
// op of a room; a program reading Text still sees every one).
const maxUnapplied = 64

// composed is a run of n consecutive unapplied ops composed into one.
// The runs are kept as a binary counter is: a new op is a run of 1, and two
// runs are composed into one when the later is as long as the earlier, so
// runs halve from first to last and each op is composed about
// log2(maxUnapplied) times, each time into a run of about its own size.
// Composing each op onto one run of all the ops before it would cost, per
// op, the length of that run: a quarter of maxUnapplied ops on average.
// Composition is associative, so the text is the same.
type composed struct {
	op ot.Op
	n  int
}

// apply applies op to the text (or only checks its length).
func (s *State) apply(op ot.Op) error {
	if op.BaseLen() != s.length {
		return fmt.Errorf("op of base length %d on a text of %d code points", op.BaseLen(), s.length)
	}
	if !s.lengthOnly {
		run, k := composed{op, 1}, len(s.unapplied)
		for ; k > 0 && s.unapplied[k-1].n <= run.n; k-- {
			c, err := ot.Compose(s.unapplied[k-1].op, run.op)
			if err != nil {
				return err
			}
			run = composed{c, s.unapplied[k-1].n + run.n}
		}
		clear(s.unapplied[k:])
		s.unapplied = append(s.unapplied[:k], run)
		if s.nUnapplied++; s.nUnapplied >= maxUnapplied {
			if err := s.catchUp(); err != nil {
				return err
			}
		}
	}
	s.length = op.TargetLen()
	return nil
}

// catchUp applies the composed ops that the text lags behind.
func (s *State) catchUp() error {
	k := len(s.unapplied)
	if k == 0 {
		return nil
	}
	// The shorter runs last: compose from the end.
	op := s.unapplied[k-1].op
	for i := k - 2; i >= 0; i-- {
		var err error
		if op, err = ot.Compose(s.unapplied[i].op, op); err != nil {
			return err // cannot happen: every op fit the length
		}
	}
	t, err := ot.Apply(s.text, op)
	if err != nil {
		return err // cannot happen: every op fit the length
	}
	clear(s.unapplied)
	s.text, s.unapplied, s.nUnapplied = t, s.unapplied[:0], 0
	return nil
}

func (s *State) nextID() string {
	s.counter++
	return s.IDPrefix + "-" + strconv.Itoa(s.counter)
}
