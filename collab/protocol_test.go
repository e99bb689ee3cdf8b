package collab

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/go-json-experiment/json/jsontext"

	"tandem/ot"
	"tandem/store"
	"tandem/store/httpapi"
)

func TestDecodeClientMessage(t *testing.T) {
	good := []struct {
		in   string
		want ClientMessage
	}{
		{`{"type":"join","doc":"d1"}`, ClientMessage{Type: "join", Doc: "d1", Version: -1}},
		{`{"type":"join","doc":"d1","version":7}`, ClientMessage{Type: "join", Doc: "d1", Version: 7}},
		{`{"type":"leave","doc":"d1"}`, ClientMessage{Type: "leave", Doc: "d1", Version: -1}},
		{`{"type":"presence","doc":"d1","version":3,"selection":null}`, ClientMessage{Type: "presence", Doc: "d1", Version: 3}},
	}
	for _, tc := range good {
		m, err := DecodeClientMessage([]byte(tc.in))
		if err != nil || m.Type != tc.want.Type || m.Doc != tc.want.Doc || m.Version != tc.want.Version || m.Selection != nil {
			t.Errorf("%s: %+v, %v", tc.in, m, err)
		}
	}
	m, err := DecodeClientMessage([]byte(`{"type":"op","doc":"d","version":2,"id":"x1","op":[1,"é",-1]}`))
	if err != nil || m.Op.String() != `[1,"é",-1]` || m.ID != "x1" || m.Version != 2 {
		t.Errorf("op: %+v, %v", m, err)
	}
	m, err = DecodeClientMessage([]byte(`{"type":"presence","doc":"d","version":0,"selection":[{"anchor":1,"head":3}]}`))
	if err != nil || len(m.Selection) != 1 || m.Selection[0].Head != 3 {
		t.Errorf("presence: %+v, %v", m, err)
	}

	bad := map[string]store.Code{
		`{}`:                                                           store.CodeBadRequest,
		`[]`:                                                           store.CodeBadRequest,
		`{"type":"join"}`:                                              store.CodeBadRequest,
		`{"type":"nap","doc":"d"}`:                                     store.CodeBadRequest,
		`{"type":"join","doc":"d"}x`:                                   store.CodeBadRequest,
		`{"type":"join","doc":"d","version":-1}`:                       store.CodeBadRequest,
		`{"type":"join","doc":"d","id":"x"}`:                           store.CodeBadRequest,
		`{"type":"leave","doc":"d","version":1}`:                       store.CodeBadRequest,
		`{"type":"op","doc":"d","id":"x","op":[1]}`:                    store.CodeBadRequest,
		`{"type":"op","doc":"d","version":0,"op":[1]}`:                 store.CodeBadRequest,
		`{"type":"op","doc":"d","version":0,"id":"x"}`:                 store.CodeBadRequest,
		`{"type":"op","doc":"d","version":0,"id":"x","op":[0]}`:        store.CodeInvalidOp,
		`{"type":"op","doc":"d","version":0,"id":"x","op":["\ud800"]}`: store.CodeInvalidOp,
		`{"type":"presence","doc":"d","selection":null}`:               store.CodeBadRequest,
		`{"type":"presence","doc":"d","version":0,"selection":[{"anchor":1}]}`:        store.CodeBadRequest,
		`{"type":"presence","doc":"d","version":0,"selection":{"anchor":1,"head":1}}`: store.CodeBadRequest,
		"{\"type\":\"join\",\"doc\":\"\xff\"}":                                        store.CodeBadRequest,
		// One object of known members, spelled exactly, once each.
		`{"type":"presence","doc":"0","version":0} }`:                                            store.CodeBadRequest,
		`{"type":"join","doc":"d"} {"type":"join","doc":"e"}`:                                    store.CodeBadRequest,
		`{"type":"join","doc":"d"}]`:                                                             store.CodeBadRequest,
		`{"TYPE":"join","doc":"d"}`:                                                              store.CodeBadRequest,
		`{"type":"join","Doc":"d"}`:                                                              store.CodeBadRequest,
		`{"type":"join","doc":"d","doc":"e"}`:                                                    store.CodeBadRequest,
		`{"type":"leave","type":"join","doc":"d"}`:                                               store.CodeBadRequest,
		`{"type":"presence","doc":"d","version":0,"selection":[{"anchor":1,"head":1,"head":2}]}`: store.CodeBadRequest,
		`{"type":"presence","doc":"d","version":0,"selection":[{"Anchor":1,"head":1}]}`:          store.CodeBadRequest,
		`{"type":"join","doc":"\ud800"}`:                                                         store.CodeBadRequest,
		`{"type":"op","doc":"d","version":0,"id":"x","op":[1,"\u0000"]}`:                         store.CodeInvalidOp,
		`{"type":"op","doc":"d","version":0,"id":"x","op":[1,"\udc00x"]}`:                        store.CodeInvalidOp,
		`{"type":"op","doc":"d","version":0,"id":"x","op":[1],"op":[1]}`:                         store.CodeBadRequest,
	}
	for in, want := range bad {
		_, err := DecodeClientMessage([]byte(in))
		if code, _ := store.ErrorCode(err); err == nil || code != want {
			t.Errorf("%s: err %v (code %s), want %s", in, err, code, want)
		}
	}
}

// FuzzDecodeClientMessage: any bytes decode to a valid message or a client
// error (never a panic or an internal error), and what decodes meets the
// protocol's rules.
func FuzzDecodeClientMessage(f *testing.F) {
	for _, seed := range []string{
		`{"type":"join","doc":"d1","version":3}`,
		`{"type":"op","doc":"d","version":2,"id":"x1","op":[1,"é",-1]}`,
		`{"type":"presence","doc":"d","version":0,"selection":[{"anchor":1,"head":3}]}`,
		`{"type":"leave","doc":"d"}`, `{"type":"op","doc":"d","version":0,"id":"x","op":[1.5]}`,
		`[{"type":"join"}]`, `null`, `{"type":"presence","doc":"0","version":0} }`,
		`{"type":"join","doc":"d","doc":"e"}`, `{"TYPE":"join","doc":"d"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeClientMessage(data)
		if err != nil {
			if code, _ := store.ErrorCode(err); code != store.CodeBadRequest && code != store.CodeInvalidOp {
				t.Fatalf("%q: error %v has code %s", data, err, code)
			}
			return
		}
		// Accepted: strictly valid JSON (no duplicate names, no lone
		// surrogates), and what the fields hold survives a round trip.
		if m.Doc == "" || len(m.Doc) > MaxDocIDLen || !jsontext.Value(data).IsValid() {
			t.Fatalf("%q accepted with doc %q", data, m.Doc)
		}
		again := encodeClient(t, m)
		back, err := DecodeClientMessage(again)
		if err != nil || back.Type != m.Type || back.Doc != m.Doc || back.Version != m.Version || back.ID != m.ID ||
			!back.Op.Equal(m.Op) || !reflect.DeepEqual(back.Selection, m.Selection) {
			t.Fatalf("%q decodes to %+v, which re-encodes as %s and decodes to %+v, %v", data, m, again, back, err)
		}
		switch m.Type {
		case TypeOp:
			if m.ID == "" || len(m.ID) > store.MaxOpIDLen || m.Version < 0 {
				t.Fatalf("%q: accepted op %+v", data, m)
			}
		case TypePresence:
			if m.Version < 0 || len(m.Selection) > MaxSelectionLen {
				t.Fatalf("%q: accepted presence %+v", data, m)
			}
			for _, r := range m.Selection {
				if r.Anchor < 0 || r.Head < 0 {
					t.Fatalf("%q: negative range %+v", data, r)
				}
			}
		case TypeJoin, TypeLeave:
		default:
			t.Fatalf("%q: accepted type %q", data, m.Type)
		}
	})
}

// encodeClient is the wire form of a decoded client message.
func encodeClient(t *testing.T, m ClientMessage) []byte {
	w := map[string]any{"type": m.Type, "doc": m.Doc}
	switch m.Type {
	case TypeJoin:
		if m.Version >= 0 {
			w["version"] = m.Version
		}
	case TypeOp:
		w["version"], w["id"], w["op"] = m.Version, m.ID, m.Op
	case TypePresence:
		w["version"], w["selection"] = m.Version, m.Selection
	}
	data, err := json.Marshal(w)
	if err != nil {
		t.Fatalf("encode %+v: %v", m, err)
	}
	return data
}

// TestSubmitDecodeKeepsCause: a REST body whose op does not parse fails
// with an error that still wraps ot.ErrMalformed (json/v2 calls ot.Op's
// UnmarshalJSON and keeps its error), which handleSubmit turns into
// invalid_op without looking at the message.
func TestSubmitDecodeKeepsCause(t *testing.T) {
	for _, body := range []string{`{"version":0,"id":"x","op":[0]}`, `{"version":0,"id":"x","op":["\u0000"]}`, `{"version":0,"id":"x","op":["\ud800"]}`} {
		var req SubmitRequest
		err := httpapi.Decode([]byte(body), &req)
		if code, _ := store.ErrorCode(err); code != store.CodeBadRequest || !inOp(err) {
			t.Errorf("%s: err %v (code %s, in op %v)", body, err, code, inOp(err))
		}
		if code, _ := store.ErrorCode(opError(err)); code != store.CodeInvalidOp || !errors.Is(opError(err), err) {
			t.Errorf("%s: opError = %v (code %s), want invalid_op wrapping %v", body, opError(err), code, err)
		}
	}
	// Over the socket the op is parsed after the message: the error keeps
	// ot.ErrMalformed too.
	_, err := DecodeClientMessage([]byte(`{"type":"op","doc":"d","version":0,"id":"x","op":[0]}`))
	if code, _ := store.ErrorCode(err); code != store.CodeInvalidOp || !errors.Is(err, ot.ErrMalformed) {
		t.Errorf("socket op [0]: err %v (code %s), want invalid_op wrapping ot.ErrMalformed", err, code)
	}
	var req SubmitRequest
	err = httpapi.Decode([]byte(`{"version":0,"id":"x","op":[1,"\u00e9"]}`), &req)
	if err != nil || req.Op == nil || req.Op.String() != `[1,"é"]` {
		t.Errorf("good op: %+v, %v", req, err)
	}
	if err := httpapi.Decode([]byte(`{"version":0,"id":"x","op":[1],"op":[1]}`), &req); err == nil || inOp(err) {
		t.Errorf("two ops: %v (in op %v), want a malformed body", err, err != nil && inOp(err))
	}
}
