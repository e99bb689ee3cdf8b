package collab

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-json-experiment/json/jsontext"

	"tandem/ot"
	"tandem/store"
	"tandem/store/httpapi"
)

// Subprotocol is the WebSocket subprotocol of protocol v1; docs/protocol.md
// is its reference.
const Subprotocol = "tandem.v1"

// Client message types.
const (
	TypeJoin     = "join"
	TypeLeave    = "leave"
	TypeOp       = "op"
	TypePresence = "presence"
)

// Limits of the protocol that do not depend on configuration.
const (
	MaxDocIDLen     = 64  // bytes
	MaxSelectionLen = 100 // ranges in one selection
)

// ClientMessage is a decoded, validated message from a client.
type ClientMessage struct {
	Type    string
	Doc     string
	Version int64 // join: -1 when absent
	ID      string
	Op      ot.Op
	// Selection is the presence selection; nil clears it.
	Selection []ot.Range
}

// wireClient is the JSON shape of every client message. Op and Selection
// stay raw (nil when absent) until the type says what they must be.
type wireClient struct {
	Type      string         `json:"type"`
	Doc       string         `json:"doc"`
	Version   *int64         `json:"version"`
	ID        string         `json:"id"`
	Op        jsontext.Value `json:"op"`
	Selection jsontext.Value `json:"selection"`
}

// DecodeClientMessage parses and validates one client message: one JSON
// object and nothing after it, member names exactly as the protocol spells
// them, none twice, none unknown (httpapi.DecodeStrict). Its errors are
// *store.Error values (bad_request, or invalid_op for an op that does not
// parse) whose messages say what is wrong.
func DecodeClientMessage(data []byte) (ClientMessage, error) {
	var w wireClient
	if err := httpapi.DecodeStrict(data, &w, "message"); err != nil {
		return ClientMessage{}, opError(err)
	}
	m := ClientMessage{Type: w.Type, Doc: w.Doc, Version: -1, ID: w.ID}
	switch w.Type {
	case TypeJoin, TypeLeave, TypeOp, TypePresence:
	case "":
		return m, store.Errorf(store.CodeBadRequest, "message has no type")
	default:
		return m, store.Errorf(store.CodeBadRequest, "unknown message type %q", w.Type)
	}
	if w.Doc == "" || len(w.Doc) > MaxDocIDLen {
		return m, store.Errorf(store.CodeBadRequest, "doc must be a document id of 1 to %d bytes", MaxDocIDLen)
	}
	if w.Version != nil {
		if *w.Version < 0 {
			return m, store.Errorf(store.CodeBadRequest, "version must not be negative")
		}
		m.Version = *w.Version
	}
	// Fields that the type does not use must be absent, so mistakes show.
	unused := func(name string, present bool) error {
		if present {
			return store.Errorf(store.CodeBadRequest, "%s does not take %s", w.Type, name)
		}
		return nil
	}
	var err error
	switch w.Type {
	case TypeJoin:
		err = firstErr(unused("id", w.ID != ""), unused("op", w.Op != nil), unused("selection", w.Selection != nil))
	case TypeLeave:
		err = firstErr(unused("version", w.Version != nil), unused("id", w.ID != ""), unused("op", w.Op != nil), unused("selection", w.Selection != nil))
	case TypeOp:
		err = firstErr(unused("selection", w.Selection != nil), required("version", w.Version != nil), required("op", w.Op != nil))
		if err == nil && store.CheckOpID(w.ID) != nil {
			err = store.Errorf(store.CodeBadRequest, "op id must be 1 to %d bytes of UTF-8 without control characters", store.MaxOpIDLen)
		}
		if err == nil {
			if m.Op, err = ot.Parse(w.Op); err != nil {
				err = store.Errorf(store.CodeInvalidOp, "%w", err)
			}
		}
	case TypePresence:
		err = firstErr(unused("id", w.ID != ""), unused("op", w.Op != nil), required("version", w.Version != nil))
		if err == nil {
			m.Selection, err = decodeSelection(w.Selection)
		}
	}
	return m, err
}

func required(name string, present bool) error {
	if !present {
		return store.Errorf(store.CodeBadRequest, "%s is required", name)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// inOp reports whether a decoding error lies in a message's op: text the ot
// parser refused, or JSON inside the op that is not valid (a lone surrogate
// escape, say). Such an op is invalid_op, as one the ot parser refuses; a
// second "op" member is a malformed message, not a malformed op.
func inOp(err error) bool {
	if errors.Is(err, ot.ErrMalformed) {
		return true
	}
	var syn *jsontext.SyntacticError
	return errors.As(err, &syn) && !errors.Is(err, jsontext.ErrDuplicateName) &&
		jsontext.Pointer("/op").Contains(syn.JSONPointer)
}

// opError re-codes a decoding error that lies in the op (see inOp) as
// invalid_op, with the same message for clients; the decoder's error stays
// in its chain. Other errors are returned as they are.
func opError(err error) error {
	if !inOp(err) {
		return err
	}
	_, msg := store.ErrorCode(err)
	return fmt.Errorf("%w: %w", store.Errorf(store.CodeInvalidOp, "%s", msg), err)
}

// decodeSelection reads a selection: null (or absent) or a list of ranges
// with non-negative positions.
func decodeSelection(raw jsontext.Value) ([]ot.Range, error) {
	if raw == nil || string(raw) == "null" {
		return nil, nil
	}
	var sel []struct {
		Anchor *int `json:"anchor"`
		Head   *int `json:"head"`
	}
	if err := httpapi.DecodeStrict(raw, &sel, "selection"); err != nil {
		_, msg := store.ErrorCode(err)
		return nil, fmt.Errorf("%w: %w", store.Errorf(store.CodeBadRequest, "selection must be null or a list of {anchor, head}: %s", msg), err)
	}
	if len(sel) > MaxSelectionLen {
		return nil, store.Errorf(store.CodeBadRequest, "a selection has at most %d ranges", MaxSelectionLen)
	}
	out := make([]ot.Range, len(sel))
	for i, r := range sel {
		if r.Anchor == nil || r.Head == nil || *r.Anchor < 0 || *r.Head < 0 {
			return nil, store.Errorf(store.CodeBadRequest, "range %d needs non-negative anchor and head", i)
		}
		out[i] = ot.Range{Anchor: *r.Anchor, Head: *r.Head}
	}
	return out, nil
}

// Server messages. Each marshals to one JSON object with its "type".

// UserInfo is how a user appears to others in a document.
type UserInfo struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Color string `json:"color"`
}

type helloMsg struct {
	Type    string   `json:"type"` // "hello"
	Session string   `json:"session"`
	User    UserInfo `json:"user"`
}

// PresenceInfo is one connection's presence in a document.
type PresenceInfo struct {
	Session   string     `json:"session"`
	User      UserInfo   `json:"user"`
	Selection []ot.Range `json:"selection"`
}

type joinedMsg struct {
	Type     string         `json:"type"` // "joined"
	Doc      string         `json:"doc"`
	Version  int64          `json:"version"`
	Role     store.Role     `json:"role"`
	Content  *string        `json:"content,omitempty"`
	Ops      *[]opMsg       `json:"ops,omitempty"`
	Presence []PresenceInfo `json:"presence"`
}

type ackMsg struct {
	Type    string `json:"type"` // "ack"
	Doc     string `json:"doc"`
	ID      string `json:"id"`
	Version int64  `json:"version"`
	User    string `json:"user,omitempty"` // on a cluster link: the author
}

type opMsg struct {
	Type    string `json:"type,omitempty"` // "op"; omitted inside joined.ops
	Doc     string `json:"doc,omitempty"`
	Version int64  `json:"version"`
	// From is set on a composed op, one that stands for the ops from
	// version From to Version (a slow reader's, protocol §5); it has
	// no id or user of its own then.
	From int64  `json:"from,omitempty"`
	ID   string `json:"id"`
	Op   ot.Op  `json:"op"`
	User string `json:"user"`
}

type presenceMsg struct {
	Type    string `json:"type"` // "presence"
	Doc     string `json:"doc"`
	Version int64  `json:"version"`        // the selection is at this version
	Left    bool   `json:"left,omitempty"` // the connection left the document
	PresenceInfo
}

type roleMsg struct {
	Type string     `json:"type"` // "role"
	Doc  string     `json:"doc"`
	Role store.Role `json:"role"`
}

type errorMsg struct {
	Type    string     `json:"type"` // "error"
	Doc     string     `json:"doc,omitempty"`
	ID      string     `json:"id,omitempty"`
	User    string     `json:"user,omitempty"` // on a cluster link: the op's author
	Code    store.Code `json:"code"`
	Message string     `json:"message"`
}

// encode marshals a server message; they are plain structs, so it cannot
// fail short of a bug.
func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("collab: encoding %T: %v", v, err))
	}
	return b
}

// errorFrame is the error message for err, about doc and op id if known.
func errorFrame(doc, id string, err error) []byte {
	code, msg := store.ErrorCode(err)
	return encode(errorMsg{Type: "error", Doc: doc, ID: id, Code: code, Message: msg})
}

// palette is the set of presence colours: distinct, and readable as a caret
// and as a selection tint on white.
var palette = []string{"#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4",
	"#f032e6", "#9a6324", "#469990", "#800000", "#808000", "#000075"}

// colorOf is a user's stable presence colour.
func colorOf(userID string) string {
	var h uint32 = 2166136261
	for i := 0; i < len(userID); i++ {
		h = (h ^ uint32(userID[i])) * 16777619
	}
	return palette[h%uint32(len(palette))]
}
