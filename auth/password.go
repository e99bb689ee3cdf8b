package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters. The defaults follow RFC 9106's
// second recommended option scaled to one pass: 64 MiB of memory, one pass,
// two lanes; about 160 ms on one of our 2-core machines.
type Argon2Params struct {
	MemoryKiB uint32
	Passes    uint32
	Lanes     uint8
}

// DefaultArgon2 is what production uses.
var DefaultArgon2 = Argon2Params{MemoryKiB: 64 * 1024, Passes: 1, Lanes: 2}

const (
	saltLen = 16
	keyLen  = 32
)

// Hasher hashes and verifies passwords with argon2id, running at most a fixed
// number of hashes at once: each holds MemoryKiB of memory, so a login flood
// waits in line instead of exhausting the machine.
type Hasher struct {
	params Argon2Params
	slots  chan struct{}
}

// NewHasher returns a Hasher that runs at most concurrent hashes at a time.
func NewHasher(p Argon2Params, concurrent int) *Hasher {
	return &Hasher{params: p, slots: make(chan struct{}, max(1, concurrent))}
}

// acquire waits for a hashing slot, or for ctx to end.
func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting to hash a password: %w", ctx.Err())
	}
}

func (h *Hasher) release() { <-h.slots }

// Hash returns password's argon2id hash in the PHC string format,
// $argon2id$v=19$m=65536,t=1,p=2$salt$key, with a fresh random salt.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt)
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	p := h.params
	key := argon2.IDKey([]byte(password), salt, p.Passes, p.MemoryKiB, p.Lanes, keyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Passes, p.Lanes, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// errBadHash reports a stored hash that is not in the format Hash writes.
var errBadHash = errors.New("malformed password hash")

// Verify reports whether password matches hash, comparing in constant time.
// The parameters come from the hash, so hashes made with older parameters
// keep working.
func (h *Hasher) Verify(ctx context.Context, hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	var p Argon2Params
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Passes, &p.Lanes); err != nil || p.Lanes == 0 || p.Passes == 0 {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false, errBadHash
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(password), salt, p.Passes, p.MemoryKiB, p.Lanes, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
