package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"tandem/store"
	"tandem/store/httpapi"
)

// Socket tickets: a browser cannot set Authorization on a WebSocket, and a
// JWT in a URL would end up in proxy logs for as long as it is valid. So a
// browser trades its app's JWT (POST /api/socket-tickets, with the header)
// for a ticket that opens one socket (GET /api/socket?ticket=...), once,
// within seconds, on any node of the cluster: tickets are kept in the
// store. A row holds a hash of the ticket and the JWT sealed (AES-GCM)
// under a key derived from the ticket, so the database alone opens
// nothing; redeeming unseals the JWT and checks it again, so a token that
// expired or an app revoked meanwhile opens nothing either.

const ticketPrefix = "tkt_"

// ticketKey is how a ticket is found in the store: a hash, never the
// ticket.
func ticketKey(secret string) string {
	sum := sha256.Sum256([]byte("tandem socket ticket id\x00" + secret))
	return hex.EncodeToString(sum[:])
}

// ticketAEAD is the cipher that seals a ticket's JWT: its key is derived
// from the ticket (another hash than ticketKey's).
func ticketAEAD(secret string) cipher.AEAD {
	key := sha256.Sum256([]byte("tandem socket ticket key\x00" + secret))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // cannot happen: a 32-byte key
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err) // cannot happen: AES has a 16-byte block
	}
	return aead
}

// issueTicket stores a fresh ticket for the app token raw (whose caller
// is c), valid for the ticket TTL and never past the token's own expiry,
// and returns it. A token past its exp (accepted within JWTLeeway, for
// clock skew) gets no ticket: one would be expired before it was issued.
func (s *Service) issueTicket(ctx context.Context, c Caller, raw string) (string, time.Time, error) {
	if c.Grants != nil && !c.Grants.Expires.After(s.now()) {
		return "", time.Time{}, store.Errorf(store.CodeUnauthorized, "the token has expired: a socket ticket would outlive it")
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret := ticketPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	expires := s.now().Add(s.cfg.TicketTTL)
	if c.Grants != nil && c.Grants.Expires.Before(expires) {
		expires = c.Grants.Expires
	}
	aead := ticketAEAD(secret)
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	sealed := aead.Seal(nonce, nonce, []byte(raw), nil)
	if err := s.store.PutTicket(ctx, ticketKey(secret), sealed, expires); err != nil {
		return "", time.Time{}, httpapi.Unavailable(fmt.Errorf("store the socket ticket: %w", err))
	}
	return secret, expires, nil
}

// redeemTicket returns the caller a ticket was issued to, once: the
// token it was issued for, checked again now.
func (s *Service) redeemTicket(ctx context.Context, secret string) (Caller, error) {
	bad := store.Errorf(store.CodeUnauthorized, "unknown, used or expired socket ticket")
	if !strings.HasPrefix(secret, ticketPrefix) || len(secret) > 128 {
		return Caller{}, bad
	}
	sealed, err := s.store.TakeTicket(ctx, ticketKey(secret), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return Caller{}, bad
	}
	if err != nil {
		return Caller{}, httpapi.Unavailable(fmt.Errorf("take the socket ticket: %w", err))
	}
	aead := ticketAEAD(secret)
	if len(sealed) < aead.NonceSize() {
		return Caller{}, bad
	}
	raw, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], nil)
	if err != nil {
		return Caller{}, bad
	}
	c, err := s.jwtCaller(ctx, string(raw))
	if code, _ := store.ErrorCode(err); code == store.CodeUnauthorized {
		return Caller{}, store.Errorf(store.CodeUnauthorized, "the ticket's token no longer holds: %v", err)
	}
	return c, err
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
