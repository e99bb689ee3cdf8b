package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"tandem/store"
	"tandem/store/httpapi"
)

// Socket tickets: a browser cannot set Authorization on a WebSocket, and a
// JWT in a URL would end up in proxy logs for as long as it is valid. So a
// browser trades its app's JWT (POST /api/socket-tickets, with the header)
// for a ticket that opens one socket (GET /api/socket?ticket=...), once,
// within seconds. Tickets live in this process's memory: with several
// nodes, the socket must reach the node that issued its ticket (see
// docs/security.md).

// maxTickets bounds the tickets waiting at once.
const maxTickets = 100_000

type tickets struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]ticket // by ticketKey
}

type ticket struct {
	caller  Caller
	expires time.Time
}

func newTickets(ttl time.Duration) *tickets {
	return &tickets{ttl: ttl, m: make(map[string]ticket)}
}

// ticketKey is how a ticket is kept: a hash, so that a memory dump holds
// no usable ticket.
func ticketKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// issue stores a fresh ticket for c, valid until now+ttl (and never past
// the token's own expiry), and returns it.
func (t *tickets) issue(c Caller, now time.Time) (string, time.Time, error) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret := "tkt_" + base64.RawURLEncoding.EncodeToString(b[:])
	expires := now.Add(t.ttl)
	if c.Grants != nil && c.Grants.Expires.Before(expires) {
		expires = c.Grants.Expires
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range t.m {
		if !now.Before(v.expires) {
			delete(t.m, k)
		}
	}
	if len(t.m) >= maxTickets {
		return "", time.Time{}, store.Errorf(store.CodeRateLimited, "too many socket tickets waiting")
	}
	t.m[ticketKey(secret)] = ticket{caller: c, expires: expires}
	return secret, expires, nil
}

// take returns the ticket's caller and forgets the ticket: false if it is
// unknown, used, or expired.
func (t *tickets) take(secret string, now time.Time) (Caller, bool) {
	k := ticketKey(secret)
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.m[k]
	delete(t.m, k)
	if !ok || !now.Before(v.expires) {
		return Caller{}, false
	}
	return v.caller, true
}

// redeemTicket returns the caller a ticket was issued to, once. The app
// must still be registered: a ticket issued just before a revocation
// opens nothing.
func (s *Service) redeemTicket(ctx context.Context, secret string) (Caller, error) {
	c, ok := s.tickets.take(secret, s.now())
	if !ok {
		return Caller{}, store.Errorf(store.CodeUnauthorized, "unknown, used or expired socket ticket")
	}
	if c.Grants != nil {
		_, err := s.store.App(ctx, c.Grants.AppID)
		if errors.Is(err, store.ErrNotFound) {
			return Caller{}, store.Errorf(store.CodeUnauthorized, "the ticket's app was revoked")
		}
		if err != nil {
			return Caller{}, httpapi.Unavailable(fmt.Errorf("look up the ticket's app: %w", err))
		}
	}
	return c, nil
}

// SocketTicket wraps the socket route: a request with a ticket query
// parameter is authenticated by that ticket alone, whatever cookie or
// header it also carries; one without is left as Authenticate found it.
func (s *Service) SocketTicket(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		secret := r.URL.Query().Get("ticket")
		if secret == "" {
			next(w, r)
			return
		}
		c, err := s.redeemTicket(r.Context(), secret)
		if err != nil {
			httpapi.WriteError(w, r, s.log, err)
			return
		}
		next(w, r.WithContext(WithCaller(r.Context(), c)))
	}
}
