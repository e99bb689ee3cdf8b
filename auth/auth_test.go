package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"tandem/store"
	"tandem/store/httpapi"
)

// cheap keeps tests fast; production parameters are DefaultArgon2.
var cheap = Argon2Params{MemoryKiB: 1024, Passes: 1, Lanes: 1}

func TestHasher(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(cheap, 2)
	hash, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Errorf("hash %q is not in the PHC format", hash)
	}
	if again, _ := h.Hash(ctx, "correct horse"); again == hash {
		t.Error("two hashes of one password are equal: no salt")
	}
	if ok, err := h.Verify(ctx, hash, "correct horse"); !ok || err != nil {
		t.Errorf("Verify(right password) = %v, %v", ok, err)
	}
	if ok, err := h.Verify(ctx, hash, "correct horsE"); ok || err != nil {
		t.Errorf("Verify(wrong password) = %v, %v", ok, err)
	}
	// Parameters come from the hash: a hasher with other settings verifies it.
	if ok, _ := NewHasher(DefaultArgon2, 1).Verify(ctx, hash, "correct horse"); !ok {
		t.Error("a hash made with other parameters did not verify")
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=1024,t=1,p=1$c2FsdA$a2V5",
		"$argon2id$v=18$m=1024,t=1,p=1$c2FsdA$a2V5", "$argon2id$v=19$m=1024,t=0,p=1$c2FsdA$a2V5",
		"$argon2id$v=19$m=1024,t=1,p=1$!!$a2V5", "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$"} {
		if _, err := h.Verify(ctx, bad, "x"); !errors.Is(err, errBadHash) {
			t.Errorf("Verify(%q) error = %v, want errBadHash", bad, err)
		}
	}
}

func TestHasherBoundsConcurrency(t *testing.T) {
	h := NewHasher(cheap, 1)
	if err := h.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The only slot is taken: a second hash waits, and gives up with its context.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "password"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Hash with no free slot: err = %v, want the context's deadline", err)
	}
	h.release()
	if _, err := h.Hash(context.Background(), "password"); err != nil {
		t.Errorf("Hash after release: %v", err)
	}
}

func TestKeyedLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k := newKeyedLimiter(3) // 3 per minute, burst 3
	for i := range 3 {
		if ok, _ := k.take("a", now); !ok {
			t.Fatalf("attempt %d refused within the burst", i+1)
		}
	}
	ok, retry := k.take("a", now)
	if ok || retry <= 0 || retry > 20*time.Second {
		t.Fatalf("4th attempt: ok=%v retry=%v; want refused, retry in about 20s", ok, retry)
	}
	if ok, _ := k.take("b", now); !ok {
		t.Error("another key was refused")
	}
	if ok, _ := k.take("a", now.Add(retry)); !ok {
		t.Error("refused again after waiting Retry-After")
	}
	// Idle keys are forgotten.
	k.take("c", now.Add(10*time.Minute))
	if _, kept := k.buckets["a"]; kept || len(k.buckets) != 1 {
		t.Errorf("after an idle spell the limiter holds %d buckets", len(k.buckets))
	}

	l := newLoginLimits(1000, 2, func() time.Time { return now })
	l.allow("1.2.3.4", "ann@example.com")
	l.allow("1.2.3.4", "ann@example.com")
	if ok, secs := l.allow("1.2.3.4", "ann@example.com"); ok || secs < 1 {
		t.Errorf("account limit not applied to one IP: ok=%v retry=%d", ok, secs)
	}
	if ok, _ := l.allow("5.6.7.8", "ann@example.com"); !ok {
		t.Error("a guesser on one IP locked the account out for another IP")
	}
	for i := range 2 * accountSpread {
		l.allow(fmt.Sprintf("10.0.0.%d", i), "ann@example.com")
	}
	if ok, secs := l.allow("5.6.7.9", "ann@example.com"); ok || secs < 1 {
		t.Errorf("account limit not applied across many IPs: ok=%v retry=%d", ok, secs)
	}
}

func TestAllows(t *testing.T) {
	for _, tc := range []struct {
		role store.Role
		need Need
		want bool
	}{
		{store.RoleViewer, NeedRead, true}, {store.RoleViewer, NeedEdit, false}, {store.RoleViewer, NeedManage, false},
		{store.RoleEditor, NeedRead, true}, {store.RoleEditor, NeedEdit, true}, {store.RoleEditor, NeedManage, false},
		{store.RoleOwner, NeedRead, true}, {store.RoleOwner, NeedEdit, true}, {store.RoleOwner, NeedManage, true},
		{"", NeedRead, false}, {"admin", NeedRead, false},
	} {
		if got := Allows(tc.role, tc.need); got != tc.want {
			t.Errorf("Allows(%q, %v) = %v, want %v", tc.role, tc.need, got, tc.want)
		}
	}
}

// FuzzDecodeSignup feeds arbitrary bodies to the signup decoding and
// validation. Whatever passes must meet every documented limit and survive
// a round trip; whatever fails must fail with a client error, not a panic or
// an internal error.
func FuzzDecodeSignup(f *testing.F) {
	for _, seed := range []string{
		`{"email":"ann@example.com","password":"correct horse","name":"Ann"}`,
		`{"email":" a@b.co ","password":"12345678","name":" \u00e9 "}`,
		`{"email":"a@b.co","password":"12345678","name":"x","admin":true}`,
		`{"email":"Ann <a@b.co>","password":"12345678","name":"x"}`,
		`[]`, `{"email":7}`, "{\"name\":\"\xff\"}", `{} {}`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req SignupRequest
		err := httpapi.Decode(body, &req)
		if err == nil {
			err = req.Validate()
		}
		if err != nil {
			code, _ := store.ErrorCode(err)
			if code != store.CodeBadRequest && code != store.CodeTooLarge {
				t.Fatalf("body %q: error %v has code %s, want a client error", body, err, code)
			}
			return
		}
		if req.Email != strings.TrimSpace(req.Email) || req.Email == "" || len(req.Email) > MaxEmailLen || !strings.Contains(req.Email, "@") {
			t.Fatalf("accepted email %q", req.Email)
		}
		if len(req.Password) < MinPasswordLen || len(req.Password) > MaxPasswordLen {
			t.Fatalf("accepted password of %d bytes", len(req.Password))
		}
		if n := utf8.RuneCountInString(req.Name); n < 1 || n > MaxNameLen || strings.IndexFunc(req.Name, unicode.IsControl) >= 0 {
			t.Fatalf("accepted name %q", req.Name)
		}
		again, _ := json.Marshal(req)
		var back SignupRequest
		if err := httpapi.Decode(again, &back); err != nil || back != req {
			t.Fatalf("round trip of %+v: %+v, %v", req, back, err)
		}
		if err := back.Validate(); err != nil || back != req {
			t.Fatalf("validation is not idempotent: %+v, %v", back, err)
		}
	})
}
