package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// fake is a scripted server: each socket gets a hello, then script runs
// with it; /api/docs/d/ops answers history.
type fake struct {
	t       *testing.T
	URL     string
	fetches atomic.Int64
}

func newFake(t *testing.T, history string, script func(s *fakeSock)) *fake {
	f := &fake{t: t}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/socket", func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		s := &fakeSock{t: t, ws: ws}
		s.send(`{"type":"hello","session":"s1","user":{"id":"me","name":"Me","color":"#000000"}}`)
		script(s)
		time.Sleep(100 * time.Millisecond) // let the client read the last frames
	})
	mux.HandleFunc("GET /api/docs/d/ops", func(w http.ResponseWriter, r *http.Request) {
		f.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(history))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// fakeSock is the server's side of one socket.
type fakeSock struct {
	t  *testing.T
	ws *websocket.Conn
}

func (s *fakeSock) send(frame string) {
	_ = s.ws.Write(context.Background(), websocket.MessageText, []byte(frame))
}

// next reads the client's next message.
func (s *fakeSock) next() map[string]any {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, data, err := s.ws.Read(ctx)
	if err != nil {
		return nil
	}
	var m map[string]any
	_ = json.Unmarshal(data, &m)
	return m
}

func (f *fake) dial() *Conn {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, f.URL, Options{})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	return c
}

const joinedABC = `{"type":"joined","doc":"d","version":0,"role":"editor","content":"abc","presence":[]}`

// A composed op (from) with nothing pending is applied as one op.
func TestComposedOpSynced(t *testing.T) {
	f := newFake(t, `{"ops":[]}`, func(s *fakeSock) {
		s.next() // join
		s.send(joinedABC)
		s.send(`[{"type":"op","doc":"d","version":2,"from":1,"id":"","user":"","op":[3,"xy"]}]`)
		s.next() // until the client leaves
	})
	d := open(t, f.dial(), "d")
	if err := d.WaitVersion(ctxT(t), 2); err != nil {
		t.Fatal(err)
	}
	if got := d.Text(); got != "abcxy" {
		t.Fatalf("text %q", got)
	}
	if n := f.fetches.Load(); n != 0 {
		t.Fatalf("%d history fetches", n)
	}
}

// A composed op met while an edit is pending is replaced by the single
// ops from the history, each transformed in turn (§5).
func TestComposedOpPending(t *testing.T) {
	history := `{"ops":[{"version":1,"id":"o1","user":"u2","op":[3,"x"]},{"version":2,"id":"o2","user":"u2","op":[4,"y"]}]}`
	f := newFake(t, history, func(s *fakeSock) {
		s.next() // join
		s.send(joinedABC)
		op := s.next()
		if op["type"] != "op" || op["version"] != float64(0) {
			t.Errorf("client sent %v", op)
			return
		}
		s.send(`{"type":"op","doc":"d","version":2,"from":1,"id":"","user":"","op":[3,"xy"]}`)
		s.send(`{"type":"ack","doc":"d","id":"` + op["id"].(string) + `","version":3}`)
		s.next()
	})
	d := open(t, f.dial(), "d")
	if err := d.Insert(0, "Z"); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitSynced(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if got, v := d.Text(), d.Version(); got != "Zabcxy" || v != 3 {
		t.Fatalf("text %q at %d", got, v)
	}
	if n := f.fetches.Load(); n != 1 {
		t.Fatalf("%d history fetches", n)
	}
}

// Messages this client cannot make sense of end the document or the
// connection with an error that says what was wrong.
func TestBadServerMessages(t *testing.T) {
	for _, tc := range []struct {
		name, frame, want string
	}{
		{"not json", `{"type":`, "bad frame from server"},
		{"version gap", `{"type":"op","doc":"d","version":5,"id":"x","user":"u2","op":[3,"x"]}`, "out of step with the server: got version 5 (from 5) after 0"},
		{"op too short", `{"type":"op","doc":"d","version":1,"id":"x","user":"u2","op":[2,"x"]}`, "out of step with the server: version 1: op of base length 2 on a text of 3"},
		{"op without op", `{"type":"op","doc":"d","version":1,"id":"x","user":"u2"}`, "op message without version or op"},
		{"bad op", `{"type":"op","doc":"d","version":1,"id":"x","user":"u2","op":[1.5]}`, "bad frame from server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, `{"ops":[]}`, func(s *fakeSock) {
				s.next()
				s.send(joinedABC)
				s.send(tc.frame)
				s.next()
			})
			d := open(t, f.dial(), "d")
			err := d.WaitVersion(ctxT(t), 1)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if d.Err() == nil {
				t.Fatal("the document did not fail")
			}
		})
	}
	t.Run("no hello", func(t *testing.T) {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /api/socket", func(w http.ResponseWriter, r *http.Request) {
			ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Subprotocol}})
			if err != nil {
				return
			}
			defer ws.CloseNow()
			_ = ws.Write(context.Background(), websocket.MessageText, []byte(`{"type":"joined"}`))
		})
		srv := httptest.NewServer(mux)
		defer srv.Close()
		_, err := Dial(ctxT(t), srv.URL, Options{})
		if err == nil || !strings.Contains(err.Error(), "first message is not hello") {
			t.Fatalf("error %v", err)
		}
	})
}
