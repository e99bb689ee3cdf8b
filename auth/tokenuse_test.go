package auth

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"tandem/migrations"
	"tandem/store"
	"tandem/store/sqlite"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTokenUses: uses noted on the request path reach the store in
// batches, the latest use wins, a listing sees uses not yet written, and a
// store that fails is logged once per failure streak while the uses wait.
func TestTokenUses(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir(), sqlite.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	m, err := migrations.New(db.SQLDB(), migrations.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := db.CreateUser(ctx, store.NewUser{Email: "ann@example.com", Name: "Ann", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := db.CreateToken(ctx, store.NewToken{UserID: u.ID, Name: "ci", Hash: []byte("h")})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	uses := newTokenUses(db, slog.New(slog.NewTextHandler(&logs, nil)), 20*time.Millisecond)
	defer uses.close()

	first := time.Now().UTC().Truncate(time.Millisecond)
	uses.note(tok.ID, first.Add(-time.Minute))
	uses.note(tok.ID, first)
	uses.note(tok.ID, first.Add(-time.Second)) // older: ignored
	if at, ok := uses.latest(tok.ID); !ok || !at.Equal(first) {
		t.Errorf("latest = %v, %v; want %v before any flush", at, ok, first)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := db.TokenByHash(ctx, []byte("h"))
		if err != nil {
			t.Fatal(err)
		}
		if got.LastUsedAt != nil {
			if !got.LastUsedAt.Equal(first) {
				t.Errorf("stored last use = %v, want %v", got.LastUsedAt, first)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the use was never written")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The store fails for real (closed): uses wait, and one line is logged
	// however many flushes fail.
	db.Close()
	second := first.Add(time.Second)
	uses.note(tok.ID, second)
	time.Sleep(200 * time.Millisecond) // several flushes
	if n := strings.Count(logs.String(), "cannot record API token use"); n != 1 {
		t.Errorf("failure logged %d times, want once:\n%s", n, logs.String())
	}
	if at, ok := uses.latest(tok.ID); !ok || !at.Equal(second) {
		t.Errorf("latest = %v, %v after failed flushes; want %v kept", at, ok, second)
	}
}
