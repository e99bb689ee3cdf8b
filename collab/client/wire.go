package client

import (
	"encoding/json"
	"fmt"

	"tandem/ot"
)

// Subprotocol is the WebSocket subprotocol of protocol v1.
const Subprotocol = "tandem.v1"

// UserInfo is a person as the server shows them to others.
type UserInfo struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Color string `json:"color"`
}

// serverMsg is any server message (docs/protocol.md §5). Fields that a
// type does not use stay zero; user is an object in hello and presence and
// an id in op, so it is kept raw.
type serverMsg struct {
	Type      string          `json:"type"`
	Doc       string          `json:"doc"`
	Session   string          `json:"session"`
	User      json.RawMessage `json:"user"`
	Version   *int64          `json:"version"`
	From      *int64          `json:"from"`
	ID        string          `json:"id"`
	Op        *ot.Op          `json:"op"`
	Role      string          `json:"role"`
	Content   *string         `json:"content"`
	Ops       []opRecord      `json:"ops"`
	Presence  []presenceEntry `json:"presence"`
	Selection []ot.Range      `json:"selection"`
	Left      bool            `json:"left"`
	Code      string          `json:"code"`
	Message   string          `json:"message"`
}

// opRecord is one op of a catch-up (joined.ops) or of the REST history.
type opRecord struct {
	Version int64  `json:"version"`
	ID      string `json:"id"`
	User    string `json:"user"`
	Op      ot.Op  `json:"op"`
}

// presenceEntry is one connection in joined.presence.
type presenceEntry struct {
	Session   string     `json:"session"`
	User      UserInfo   `json:"user"`
	Selection []ot.Range `json:"selection"`
}

// userInfo decodes m.User as an object (hello, presence).
func (m *serverMsg) userInfo() (UserInfo, error) {
	var u UserInfo
	if err := json.Unmarshal(m.User, &u); err != nil {
		return u, fmt.Errorf("%s message: user: %w", m.Type, err)
	}
	return u, nil
}

// userID decodes m.User as an id (op).
func (m *serverMsg) userID() string {
	var id string
	_ = json.Unmarshal(m.User, &id) // empty for a composed op
	return id
}

// decodeFrame splits a server frame, one message object or an array of
// them (§2), into messages.
func decodeFrame(data []byte) ([]serverMsg, error) {
	i := 0
	for i < len(data) && (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t') {
		i++
	}
	if i < len(data) && data[i] == '[' {
		var msgs []serverMsg
		if err := json.Unmarshal(data, &msgs); err != nil {
			return nil, fmt.Errorf("bad frame from server: %w", err)
		}
		return msgs, nil
	}
	var m serverMsg
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("bad frame from server: %w", err)
	}
	return []serverMsg{m}, nil
}

// Client messages (§4). Optional fields are pointers or omitempty so that
// absent stays absent: the server refuses members a type does not take.
type joinMsg struct {
	Type    string `json:"type"`
	Doc     string `json:"doc"`
	Version *int64 `json:"version,omitempty"`
}

type leaveMsg struct {
	Type string `json:"type"`
	Doc  string `json:"doc"`
}

type opMsg struct {
	Type    string `json:"type"`
	Doc     string `json:"doc"`
	Version int64  `json:"version"`
	ID      string `json:"id"`
	Op      ot.Op  `json:"op"`
}

type presenceMsg struct {
	Type      string     `json:"type"`
	Doc       string     `json:"doc"`
	Version   int64      `json:"version"`
	Selection []ot.Range `json:"selection"`
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
