package collab

import (
	"fmt"
	"unicode/utf8"

	"tandem/ot"
	"tandem/store"
)

// sequencer is one document's order of operations: the head (its text and
// version, counting ops placed but not yet committed), the committed head,
// and a window of the most recent ops with their ids, so that a re-sent op
// is recognised and a late one is transformed over what it missed.
//
// It is a plain value, with no goroutines, channels or store: the room owns
// it, reads history older than the window from the store for it, commits
// what it places and tells it so. Its methods are the whole life of an op:
// admit (judge it before any history is read), place (dedupe, transform,
// fit by length, append), commit, and rollBack.
//
// It does not apply each op to the text as it places it: copying a large
// text for every keystroke was most of a busy room's work. It keeps the
// head's length, which is all an op's fit needs, and the text at a version
// at or before the committed head (base); the text at a later version is
// base with the window's ops since composed and applied in one pass, made
// when someone needs it (a join, a snapshot; stableText, headText).
type sequencer struct {
	version   int64 // head, counting ops placed but not yet committed
	length    int   // the text's length at version, in code points
	maxBytes  int   // at least the text's length at version in UTF-8 bytes
	committed int64 // head in the store

	// base is the text at baseVersion, at most committed; the window
	// holds every op after it.
	base        string
	baseVersion int64

	// window holds the most recent ops, consecutive, ending at version;
	// windowBytes is their ot.Op.Size total.
	window      []store.OpRecord
	windowBytes int

	ids map[opKey]int64 // (author, op id) → version, for the ops in window
	// reused holds op ids found already stored when a commit was refused
	// for them (older than the window), so that trying again is refused at
	// once. Bounded: cleared when it grows past maxReused.
	reused map[opKey]int64

	lim seqLimits
}

// seqLimits are the sizes a sequencer keeps to (Config has their meaning).
type seqLimits struct {
	MaxDocBytes int // the text, in UTF-8 bytes
	WindowOps   int // ops kept in the window, and at most
	WindowBytes int // about this many bytes of them
	MaxBehind   int // how far behind the head a base version may be
}

// opKey identifies an op as the store does: ids are unique per author.
type opKey struct{ user, id string }

// maxReused bounds sequencer.reused.
const maxReused = 1024

// newSequencer starts at a committed version and its text.
func newSequencer(version int64, text string, lim seqLimits) *sequencer {
	return &sequencer{
		version: version, length: utf8.RuneCountInString(text), maxBytes: len(text), committed: version,
		base: text, baseVersion: version,
		ids: make(map[opKey]int64), reused: make(map[opKey]int64), lim: lim,
	}
}

// stableText is the text at the committed head: what joiners get. It
// moves base up to there.
func (s *sequencer) stableText() string {
	if s.baseVersion < s.committed {
		text, err := s.textAt(s.committed)
		if err != nil {
			// The window's ops were each checked to fit as they were
			// placed: they cannot fail to apply.
			panic(fmt.Sprintf("sequencer: %v", err))
		}
		s.base, s.baseVersion = text, s.committed
	}
	return s.base
}

// stableLen is the length of the text at the committed head, in code
// points.
func (s *sequencer) stableLen() int {
	if s.committed == s.version {
		return s.length
	}
	recs, _ := s.recent(s.committed, s.committed+1) // uncommitted ops are always in the window
	return recs[0].Op.BaseLen()
}

// headText is the text at the head, counting ops not yet committed.
func (s *sequencer) headText() string {
	base := s.stableText()
	if s.version == s.baseVersion {
		return base
	}
	text, err := s.textAt(s.version)
	if err != nil {
		panic(fmt.Sprintf("sequencer: %v", err))
	}
	return text
}

// textAt is the text at version v, from base and the window's ops since.
func (s *sequencer) textAt(v int64) (string, error) {
	recs, start := s.recent(s.baseVersion, v)
	if s.baseVersion+1 < start || int64(len(recs)) != v-s.baseVersion {
		return "", fmt.Errorf("the window starts at version %d, after the text's %d", start, s.baseVersion)
	}
	if len(recs) == 0 {
		return s.base, nil
	}
	ops := make([]ot.Op, len(recs))
	for i, rec := range recs {
		ops[i] = rec.Op
	}
	all, err := ot.ComposeAll(ops)
	if err != nil {
		return "", fmt.Errorf("versions %d..%d do not compose: %w", s.baseVersion+1, v, err)
	}
	text, err := ot.Apply(s.base, all)
	if err != nil {
		return "", fmt.Errorf("versions %d..%d do not apply to the text at %d: %w", s.baseVersion+1, v, s.baseVersion, err)
	}
	return text, nil
}

// admit judges an op with id by user, made at version base, before any
// history is read. If the window holds it already (a re-send, perhaps not
// yet committed) it returns its version as dup, whatever its base, so that
// a client never has to send it again as a new op. It refuses a base ahead
// of the committed head, a base too far behind, and an id its author used
// before for another op.
func (s *sequencer) admit(user, id string, base int64) (dup int64, err error) {
	if base > s.committed {
		// A client only ever knows committed versions.
		return 0, store.Errorf(store.CodeBadRequest, "version %d is ahead of the document (%d)", base, s.committed)
	}
	key := opKey{user, id}
	if v, ok := s.ids[key]; ok {
		if v <= base {
			return 0, reusedID(id, v)
		}
		return v, nil
	}
	if v, ok := s.reused[key]; ok && v <= base {
		return 0, reusedID(id, v)
	}
	if s.version-base > int64(s.lim.MaxBehind) {
		return 0, store.Errorf(store.CodeBadRequest, "version %d is too far behind (head %d): rejoin", base, s.version)
	}
	return 0, nil
}

// recent returns the window's ops with from < version <= to, and start, the
// first version the window holds: the ops from+1 ... start-1, if any, are
// not in it (the room reads them from the store).
func (s *sequencer) recent(from, to int64) (recs []store.OpRecord, start int64) {
	start = s.version - int64(len(s.window)) + 1
	lo := max(from+1, start)
	if lo > to {
		return nil, start
	}
	return s.window[lo-start : to-start+1], start
}

// place sequences op, made at version base by user with id: since must be
// every op after base up to the head, in order. If since holds the op
// already (a re-send of an op that has left the window's ids) it returns
// that version as dup and places nothing. Otherwise it transforms op over
// since, applies it, appends it to the window as the next version and
// returns its record. Errors are for the op's author: invalid_op if it does
// not fit, too_large if the text would outgrow its limit.
func (s *sequencer) place(user, id string, base int64, op ot.Op, since []store.OpRecord) (rec store.OpRecord, dup int64, err error) {
	if want := s.version - base; int64(len(since)) != want {
		return rec, 0, fmt.Errorf("place: %d ops of history for the %d since version %d", len(since), want, base)
	}
	for _, r := range since {
		if r.ID == id && r.UserID == user {
			return rec, r.Version, nil
		}
	}
	history := func(yield func(ot.Op) bool) {
		for _, r := range since {
			if !yield(r.Op) {
				return
			}
		}
	}
	if op, err = ot.TransformOverAll(op, history); err != nil {
		return rec, 0, store.Errorf(store.CodeInvalidOp, "operation does not fit version %d of the document: %w", base, err)
	}
	if op.BaseLen() != s.length {
		// An op over the whole text, retains and deletes adding up to its
		// length, applies to it: the length is all a fit needs.
		return rec, 0, store.Errorf(store.CodeInvalidOp, "operation does not fit version %d of the document: it spans %d code points, the document has %d", base, op.BaseLen(), s.length)
	}
	maxBytes := s.maxBytes + op.InsertedBytes()
	if maxBytes > s.lim.MaxDocBytes {
		// Perhaps too large: only the text itself says.
		text, err := ot.Apply(s.headText(), op)
		if err != nil {
			return rec, 0, store.Errorf(store.CodeInvalidOp, "operation does not fit version %d of the document: %w", base, err)
		}
		if len(text) > s.lim.MaxDocBytes {
			return rec, 0, store.Errorf(store.CodeTooLarge, "the document would exceed %d bytes", s.lim.MaxDocBytes)
		}
		maxBytes = len(text)
	}
	s.version++
	s.length, s.maxBytes = op.TargetLen(), maxBytes
	rec = store.OpRecord{Version: s.version, ID: id, UserID: user, Op: op}
	s.window = append(s.window, rec)
	s.windowBytes += op.Size()
	s.ids[opKey{user, id}] = s.version
	s.trim()
	return rec, 0, nil
}

// commit records that every op placed up to version through is stored:
// the committed head and its text move over them (they are all in the
// window: uncommitted ops never leave it).
func (s *sequencer) commit(through int64) error {
	if through <= s.committed || through > s.version {
		return fmt.Errorf("commit: through version %d, with %d committed and head %d", through, s.committed, s.version)
	}
	s.committed = through // the text there is made when needed (stableText)
	s.trim()
	return nil
}

// rollBack returns to the committed head: every op placed since is
// forgotten, text, window and ids alike.
func (s *sequencer) rollBack() {
	n := int(s.version - s.committed)
	for _, rec := range s.window[len(s.window)-n:] {
		delete(s.ids, opKey{rec.UserID, rec.ID})
		s.windowBytes -= rec.Op.Size()
	}
	s.window = s.window[:len(s.window)-n]
	s.version = s.committed
	text := s.stableText()
	s.length, s.maxBytes = utf8.RuneCountInString(text), len(text)
}

// forbid remembers that user's op id is stored as version, beyond the
// window: the id cannot be used again for an op made at or after it.
func (s *sequencer) forbid(user, id string, version int64) {
	if len(s.reused) >= maxReused {
		clear(s.reused)
	}
	s.reused[opKey{user, id}] = version
}

// trim drops the oldest committed ops once the window holds twice its size
// in ops (copying it once per WindowOps ops rather than on every op), or
// more than WindowBytes: then down to half that, so that a few huge ops
// cannot make a room big. Uncommitted ops always stay.
func (s *sequencer) trim() {
	overBytes := s.windowBytes > s.lim.WindowBytes
	if len(s.window) < 2*s.lim.WindowOps && !overBytes {
		return
	}
	committedInWindow := len(s.window) - int(s.version-s.committed)
	drop := len(s.window) - s.lim.WindowOps
	if overBytes {
		bytes := s.windowBytes
		n := 0
		for n < len(s.window) && bytes > s.lim.WindowBytes/2 {
			bytes -= s.window[n].Op.Size()
			n++
		}
		drop = max(drop, n)
	}
	if drop = min(drop, committedInWindow); drop > 0 {
		if s.baseVersion < s.version-int64(len(s.window))+int64(drop) {
			s.stableText() // the text moves past the ops about to go
		}
		for _, rec := range s.window[:drop] {
			delete(s.ids, opKey{rec.UserID, rec.ID})
			s.windowBytes -= rec.Op.Size()
		}
		s.window = append([]store.OpRecord(nil), s.window[drop:]...)
	}
}

// reusedID is the refusal of an op whose author already used its id.
func reusedID(id string, version int64) error {
	return store.Errorf(store.CodeConflict, "op id %q was already used for version %d: ids must be new", id, version)
}
