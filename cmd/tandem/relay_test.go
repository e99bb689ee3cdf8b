package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"tandem/ot"
	"tandem/store"
)

// TestRelayAcrossServers: two servers on one database; the documents are
// owned by A (its sockets joined first) and joined on B too, so B relays
// all of them to A over one link each — more of them than one user may
// hold sockets, since links are not a user's. Joins on B get the content,
// ops sent on B are acknowledged there and reach A's sockets, and presence
// goes both ways, leaving included.
func TestRelayAcrossServers(t *testing.T) {
	a, b := startPair(t)
	ann, _ := signup(t, a, "ann@example.com")
	const docs = 40 // over --conns-per-user (32)
	ids := make([]string, docs)
	for i := range ids {
		var d docBody
		r := ann.do("POST", "/api/docs", map[string]string{"title": fmt.Sprint("doc ", i), "content": fmt.Sprint("d", i)})
		ann.want(r, 201, "", "create")
		r.json(t, &d)
		ids[i] = d.ID
	}
	send := func(s *peerSocket, msg string) {
		t.Helper()
		if err := s.ws.Write(context.Background(), websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	// Two sockets on each server: a socket joins at most 32 documents.
	onA := []*peerSocket{dialPeer(t, a, ann.http.Jar), dialPeer(t, a, ann.http.Jar)}
	onB := []*peerSocket{dialPeer(t, b, ann.http.Jar), dialPeer(t, b, ann.http.Jar)}
	for _, side := range [][]*peerSocket{onA, onB} {
		for i, id := range ids {
			s := side[i%2]
			send(s, `{"type":"join","doc":"`+id+`"}`)
			m := s.next(t, "joined", 10*time.Second)
			if m["doc"] != id || m["content"] != fmt.Sprint("d", i) || m["version"] != 0.0 {
				t.Fatalf("joined %s: %v", id, m)
			}
		}
	}
	if n := metric(t, a.URL(), "tandem_cluster_links_in"); n != docs {
		t.Errorf("A has %v links in, want %d", n, docs)
	}
	if n := metric(t, b.URL(), "tandem_cluster_links_out"); n != docs {
		t.Errorf("B has %v links out, want %d", n, docs)
	}

	// An op on B, for the last document: acknowledged on B, seen on A.
	last := ids[docs-1]
	bSock, aSock := onB[(docs-1)%2], onA[(docs-1)%2]
	send(bSock, `{"type":"op","doc":"`+last+`","version":0,"id":"b1","op":[3,"!"]}`)
	if m := bSock.next(t, "ack", 5*time.Second); m["id"] != "b1" || m["version"] != 1.0 {
		t.Fatalf("ack on B: %v", m)
	}
	if m := aSock.next(t, "op", 5*time.Second); m["id"] != "b1" || m["version"] != 1.0 || m["doc"] != last {
		t.Fatalf("op on A: %v", m)
	}
	// And one on A reaches B.
	send(aSock, `{"type":"op","doc":"`+last+`","version":1,"id":"a1","op":[4,"?"]}`)
	aSock.next(t, "ack", 5*time.Second)
	if m := bSock.next(t, "op", 5*time.Second); m["id"] != "a1" || m["version"] != 2.0 {
		t.Fatalf("op on B: %v", m)
	}
	// A program's op over REST on B: relayed too, answered with its
	// version once the owner has stored it; sent again, the same version.
	annB := *ann
	annB.base = b.URL()
	for range 2 {
		var res struct {
			Version int64 `json:"version"`
		}
		r := annB.do("POST", "/api/docs/"+last+"/ops", map[string]any{"version": 2, "id": "rest1", "op": []any{5, "#"}})
		annB.want(r, 200, "", "op over REST on B")
		if r.json(t, &res); res.Version != 3 {
			t.Fatalf("REST op on B stored as %d, want 3", res.Version)
		}
	}
	if m := aSock.next(t, "op", 5*time.Second); m["id"] != "rest1" || m["version"] != 3.0 {
		t.Fatalf("REST op on A: %v", m)
	}
	var c struct {
		Content string `json:"content"`
	}
	ann.do("GET", "/api/docs/"+last+"/content", nil).json(t, &c)
	if c.Content != "d39!?#" {
		t.Errorf("stored %q, want d39!?#", c.Content)
	}

	// Presence: B's socket moves its caret, A's sees it; then it leaves.
	send(bSock, `{"type":"presence","doc":"`+last+`","version":2,"selection":[{"anchor":1,"head":2}]}`)
	for {
		m := aSock.next(t, "presence", 5*time.Second)
		if sel, _ := m["selection"].([]any); m["doc"] == last && len(sel) == 1 {
			break
		}
	}
	send(aSock, `{"type":"presence","doc":"`+last+`","version":2,"selection":[{"anchor":0,"head":0}]}`)
	for {
		m := bSock.next(t, "presence", 5*time.Second)
		if sel, _ := m["selection"].([]any); m["doc"] == last && len(sel) == 1 {
			break
		}
	}
	send(bSock, `{"type":"leave","doc":"`+last+`"}`)
	for {
		if m := aSock.next(t, "presence", 5*time.Second); m["doc"] == last && m["left"] == true {
			break
		}
	}
}

// TestLinkNeedsSecret: the link route refuses a caller without the
// cluster's secret (401), even one signed in, and is not there at all on
// the embedded store (404).
func TestLinkNeedsSecret(t *testing.T) {
	a, _ := startPair(t)
	ann, _ := signup(t, a, "ann@example.com")
	for _, secret := range []string{"", "doorbell-test-cluster-secreT", "x"} {
		req, _ := http.NewRequest("GET", a.URL()+"/api/cluster/link", nil)
		if secret != "" {
			req.Header.Set("Tandem-Cluster-Secret", secret)
		}
		resp, err := ann.http.Do(req) // with Ann's session cookie
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("link with secret %q: %d, want 401", secret, resp.StatusCode)
		}
	}
	lite := startServer(t, testConfig(t, "sqlite"))
	resp, err := http.Get(lite.URL() + "/api/cluster/link")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("link on the embedded store: %d, want 404", resp.StatusCode)
	}
}

// TestTakeoverClearsPresence: when the owner of a document stops, a relay
// takes the document over; its editors keep their sockets, can go on
// editing, and are told that the old owner's editors have gone (no ghost
// cursors).
func TestTakeoverClearsPresence(t *testing.T) {
	cfg := testConfig(t, "postgres")
	cfg.clusterSecret = "takeover-test-cluster-secret"
	// A, the owner, is started by hand so that the test can stop it.
	a, err := newServer(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- a.Serve() }()
	stopA := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutdown A: %v", err)
		}
		<-served
	}
	stopped := false
	defer func() {
		if !stopped {
			stopA()
		}
	}()
	b := startServer(t, cfg)

	ann, _ := signup(t, b, "ann@example.com")
	bob, _ := signup(t, b, "bob@example.com")
	var d docBody
	r := ann.do("POST", "/api/docs", map[string]string{"title": "t", "content": "hello"})
	ann.want(r, 201, "", "create")
	r.json(t, &d)
	ann.want(ann.do("PUT", "/api/docs/"+d.ID+"/members", map[string]string{"email": "bob@example.com", "role": "editor"}), 202, "", "invite")
	bob.want(bob.do("POST", "/api/invitations/"+d.ID+"/accept", nil), 200, "", "accept")

	send := func(s *peerSocket, msg string) {
		t.Helper()
		if err := s.ws.Write(context.Background(), websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	annA := dialPeer(t, a, ann.http.Jar) // joins first: A owns the document
	send(annA, `{"type":"join","doc":"`+d.ID+`"}`)
	annA.next(t, "joined", 5*time.Second)
	bobB := dialPeer(t, b, bob.http.Jar)
	send(bobB, `{"type":"join","doc":"`+d.ID+`"}`)
	bobB.next(t, "joined", 5*time.Second)

	send(annA, `{"type":"presence","doc":"`+d.ID+`","version":0,"selection":[{"anchor":1,"head":3}]}`)
	var annSession string
	for annSession == "" {
		m := bobB.next(t, "presence", 5*time.Second)
		if sel, _ := m["selection"].([]any); len(sel) == 1 {
			annSession, _ = m["session"].(string)
		}
	}

	stopA()
	stopped = true
	for {
		m := bobB.next(t, "presence", 10*time.Second)
		if m["session"] == annSession && m["left"] == true {
			break
		}
	}
	// B owns the document now: Bob's edit is acknowledged there.
	send(bobB, `{"type":"op","doc":"`+d.ID+`","version":0,"id":"b1","op":[5,"!"]}`)
	if m := bobB.next(t, "ack", 10*time.Second); m["id"] != "b1" || m["version"] != 1.0 {
		t.Fatalf("ack after the takeover: %v", m)
	}
}

// TestRelayJoinAheadOfCopy: an editor that saw ops the relay's copy has
// not had yet (it was on the owner, which stopped before they reached the
// relay) rejoins on the relay: the copy catches up from the store and the
// editor gets the ops it missed (none), not the content, which would cost
// it the op it has outstanding. The store is written to directly here to
// put it ahead of the copy deterministically.
func TestRelayJoinAheadOfCopy(t *testing.T) {
	a, b := startPair(t)
	ann, annU := signup(t, a, "ann@example.com")
	var d docBody
	r := ann.do("POST", "/api/docs", map[string]string{"title": "t", "content": "hello"})
	ann.want(r, 201, "", "create")
	r.json(t, &d)
	send := func(s *peerSocket, msg string) {
		t.Helper()
		if err := s.ws.Write(context.Background(), websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	onA := dialPeer(t, a, ann.http.Jar) // joins first: A owns the document
	send(onA, `{"type":"join","doc":"`+d.ID+`"}`)
	onA.next(t, "joined", 5*time.Second)
	relayed := dialPeer(t, b, ann.http.Jar) // B's room is a relay at version 0
	send(relayed, `{"type":"join","doc":"`+d.ID+`"}`)
	if m := relayed.next(t, "joined", 5*time.Second); m["version"] != 0.0 {
		t.Fatalf("joined on B: %v", m)
	}

	err := a.backend.store.AppendOps(context.Background(), d.ID, 0, []store.NewOp{
		{ID: "direct1", UserID: annU.ID, Op: ot.Insertion(5, 5, "!")},
		{ID: "direct2", UserID: annU.ID, Op: ot.Insertion(6, 0, ">")},
	})
	if err != nil {
		t.Fatal(err)
	}
	late := dialPeer(t, b, ann.http.Jar)
	send(late, `{"type":"join","doc":"`+d.ID+`","version":2}`)
	m := late.next(t, "joined", 5*time.Second)
	if _, ok := m["content"]; ok || m["version"] != 2.0 {
		t.Fatalf("joined at 2 on B: %v, want version 2 and no content", m)
	}
	// The relay's other editor was passed the ops on the way.
	for _, want := range []float64{1, 2} {
		if m := relayed.next(t, "op", 5*time.Second); m["version"] != want {
			t.Fatalf("op on B: %v, want version %v", m, want)
		}
	}
}
