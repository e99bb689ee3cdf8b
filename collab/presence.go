package collab

import (
	"tandem/ot"
	"tandem/store"
)

// presence is who is in a room and where their carets and selections are,
// kept at the room's committed version: moved through every committed op,
// changes coalesced until the next flush, each encoded once for everyone.
// Members are known by their connection's session id. Like the sequencer
// it is a plain value: the room owns it and broadcasts what flush returns.
type presence struct {
	doc   string
	all   map[string]*presentMember // by session
	dirty map[string]bool           // sessions whose news is not yet out
	gone  []PresenceInfo            // who left since the last flush
}

type presentMember struct {
	user      UserInfo
	selection []ot.Range // at the committed version; nil: none shown
}

// presenceNews is one presence message for every member but skip.
type presenceNews struct {
	session string // whom it is about
	skip    string // a session, or "" for nobody
	msg     []byte
}

func newPresence(doc string) *presence {
	return &presence{doc: doc, all: make(map[string]*presentMember), dirty: make(map[string]bool)}
}

// add counts a new member; the others learn who came at the next flush.
func (p *presence) add(session string, user UserInfo) {
	p.all[session] = &presentMember{user: user}
	p.dirty[session] = true
}

// here reports whether session is a member.
func (p *presence) here(session string) bool {
	_, ok := p.all[session]
	return ok
}

// remove forgets a member (left, removed or dropped); the others learn it
// at the next flush.
func (p *presence) remove(session string) {
	m, ok := p.all[session]
	if !ok {
		return
	}
	delete(p.all, session)
	delete(p.dirty, session)
	p.gone = append(p.gone, PresenceInfo{Session: session, User: m.user})
}

// The relay's side (relay.go): its presence is a copy of the owner's,
// changed only by what the owner broadcasts, so nothing is ever marked for
// a flush of its own.

// mirror records a session's presence as the owner sent it.
func (p *presence) mirror(session string, user UserInfo, sel []ot.Range) {
	p.all[session] = &presentMember{user: user, selection: sel}
}

// forget drops a session without telling anyone.
func (p *presence) forget(session string) {
	delete(p.all, session)
	delete(p.dirty, session)
}

// hush drops the news not yet flushed: a room that stops sequencing
// leaves presence to its new owner.
func (p *presence) hush() {
	clear(p.dirty)
	p.gone = nil
}

// adopt replaces everyone's presence by the owner's list, keeping the
// sessions in keep (this node's own editors) that the list lacks; it
// returns who was here and is not in the list.
func (p *presence) adopt(list []PresenceInfo, keep map[string]bool) (gone []PresenceInfo) {
	listed := make(map[string]bool, len(list))
	for _, info := range list {
		listed[info.Session] = true
	}
	for s, m := range p.all {
		if !keep[s] && !listed[s] {
			gone = append(gone, PresenceInfo{Session: s, User: m.user})
			p.forget(s)
		}
	}
	for _, info := range list {
		p.all[info.Session] = &presentMember{user: info.User, selection: info.Selection}
	}
	return gone
}

// others are the sessions here that keep lacks.
func (p *presence) others(keep map[string]bool) []string {
	var out []string
	for s := range p.all {
		if !keep[s] {
			out = append(out, s)
		}
	}
	return out
}

// selectionOf is a session's selection (nil: none, or not here).
func (p *presence) selectionOf(session string) []ot.Range {
	if m, ok := p.all[session]; ok {
		return m.selection
	}
	return nil
}

// set replaces a member's selection, which must already be at the
// committed version (see selectionAt); nil shows none.
func (p *presence) set(session string, sel []ot.Range) {
	if m, ok := p.all[session]; ok {
		m.selection = sel
		p.dirty[session] = true
	}
}

// move carries every selection over a committed op by author: the
// author's own caret goes after what they typed, everyone else's stays
// before an insert at it.
func (p *presence) move(op ot.Op, author string) {
	for _, m := range p.all {
		if m.selection != nil {
			m.selection = ot.TransformRanges(m.selection, op, m.user.ID == author)
		}
	}
}

// list is everyone's presence but except's, for a joining member.
func (p *presence) list(except string) []PresenceInfo {
	out := []PresenceInfo{}
	for session, m := range p.all {
		if session != except {
			out = append(out, PresenceInfo{Session: session, User: m.user, Selection: m.selection})
		}
	}
	return out
}

// flush returns what happened since the last flush, at version: who left
// (for everyone) and the latest presence of each member that came or moved
// (for everyone but them). A burst of caret moves costs one message.
func (p *presence) flush(version int64) []presenceNews {
	var out []presenceNews
	for _, g := range p.gone {
		out = append(out, presenceNews{session: g.Session, msg: encode(presenceMsg{Type: "presence", Doc: p.doc, Version: version, Left: true, PresenceInfo: g})})
	}
	p.gone = nil
	for session := range p.dirty {
		m, ok := p.all[session]
		if !ok {
			continue
		}
		out = append(out, presenceNews{session: session, skip: session, msg: encode(presenceMsg{Type: "presence", Doc: p.doc, Version: version,
			PresenceInfo: PresenceInfo{Session: session, User: m.user, Selection: m.selection}})})
	}
	clear(p.dirty)
	return out
}

// selectionAt moves a selection made before the ops since (every op after
// its version up to the committed one) over them, and clamps it to n, the
// committed text's length in code points: the form set takes. nil stays nil (no selection).
func selectionAt(sel []ot.Range, since []store.OpRecord, n int) []ot.Range {
	if sel == nil {
		return nil
	}
	for _, rec := range since {
		sel = ot.TransformRanges(sel, rec.Op, false)
	}
	for i := range sel {
		sel[i] = ot.Range{Anchor: min(sel[i].Anchor, n), Head: min(sel[i].Head, n)}
	}
	if sel == nil {
		sel = []ot.Range{}
	}
	return sel
}
