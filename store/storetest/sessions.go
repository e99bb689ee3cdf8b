package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
)

// RunSessions checks that an scs session store works on the store's
// sessions table: commit, find, replace, expire and delete.
func RunSessions(t *testing.T, s scs.Store) {
	must(t, s.Commit("tok-1", []byte("alpha"), time.Now().Add(time.Hour)), "commit")
	data, found, err := s.Find("tok-1")
	must(t, err, "find")
	if !found || !bytes.Equal(data, []byte("alpha")) {
		t.Fatalf("Find = %q, %v; want alpha", data, found)
	}
	must(t, s.Commit("tok-1", []byte("beta"), time.Now().Add(time.Hour)), "replace")
	if data, found, err := s.Find("tok-1"); err != nil || !found || string(data) != "beta" {
		t.Errorf("after replace Find = %q, %v, %v", data, found, err)
	}
	must(t, s.Commit("tok-old", []byte("gone"), time.Now().Add(-time.Second)), "commit expired")
	if _, found, err := s.Find("tok-old"); err != nil || found {
		t.Errorf("an expired session was found (%v)", err)
	}
	must(t, s.Delete("tok-1"), "delete")
	if _, found, err := s.Find("tok-1"); err != nil || found {
		t.Errorf("a deleted session was found (%v)", err)
	}
	if _, found, err := s.Find("never"); err != nil || found {
		t.Errorf("an unknown token was found (%v)", err)
	}
}

// WriteChecker is a store with a readiness write check (CheckWrite).
type WriteChecker interface {
	CheckWrite(ctx context.Context) error
	Close() error
}

// RunCheckWrite checks a store's readiness write: it succeeds again and
// again, leaves no session that scs (on sessions, the same database) would
// find, and fails once the store is closed. It closes db.
func RunCheckWrite(t *testing.T, db WriteChecker, sessions scs.Store) {
	ctx := context.Background()
	for range 2 {
		must(t, db.CheckWrite(ctx), "CheckWrite")
	}
	if _, found, err := sessions.Find("tandem:write-check"); err != nil || found {
		t.Errorf("Find(write check row) = %v, %v; want no session", found, err)
	}
	db.Close()
	if err := db.CheckWrite(ctx); err == nil {
		t.Error("a closed store passed the write check")
	}
}
