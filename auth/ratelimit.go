package auth

import (
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"tandem/store"
)

// keyedLimiter is a token bucket per key (an IP, an email). Buckets idle for
// longer than it takes to refill are forgotten, so memory stays bounded by
// the keys seen in that window.
type keyedLimiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	idle    time.Duration
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newKeyedLimiter(perMinute int) *keyedLimiter {
	perMinute = max(1, perMinute)
	every := rate.Limit(float64(perMinute) / 60)
	return &keyedLimiter{
		every:   every,
		burst:   perMinute,
		idle:    2 * time.Minute,
		buckets: make(map[string]*bucket),
	}
}

// take spends one token for key at now; if none is left it returns how long
// until one will be.
func (k *keyedLimiter) take(key string, now time.Time) (ok bool, retry time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if now.Sub(k.swept) > k.idle {
		for key, b := range k.buckets {
			if now.Sub(b.seen) > k.idle {
				delete(k.buckets, key)
			}
		}
		k.swept = now
	}
	b, found := k.buckets[key]
	if !found {
		b = &bucket{lim: rate.NewLimiter(k.every, k.burst)}
		k.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// loginLimits bounds sign-in and sign-up attempts per client IP and per
// account (the email tried).
type loginLimits struct {
	perIP, perAccount *keyedLimiter
	now               func() time.Time
}

func newLoginLimits(perIP, perAccount int, now func() time.Time) *loginLimits {
	return &loginLimits{perIP: newKeyedLimiter(perIP), perAccount: newKeyedLimiter(perAccount), now: now}
}

// allow spends an attempt for the IP and the account; if either is out, it
// returns the wait in whole seconds (at least 1), for Retry-After.
func (l *loginLimits) allow(ip, account string) (ok bool, retrySeconds int) {
	now := l.now()
	okIP, waitIP := l.perIP.take(ip, now)
	okAcct, waitAcct := true, time.Duration(0)
	if account != "" {
		okAcct, waitAcct = l.perAccount.take(account, now)
	}
	if okIP && okAcct {
		return true, 0
	}
	return false, int(math.Ceil(max(waitIP, waitAcct).Seconds()))
}

// UserLimiter bounds how often each signed-in user may call a route, such
// as changing a document's members: a token bucket per user id, refilled at
// a rate per minute with a burst of as many.
type UserLimiter struct {
	lim *keyedLimiter
	now func() time.Time
	log *slog.Logger
}

// NewUserLimiter returns a limiter of perMinute calls per user.
func NewUserLimiter(perMinute int, log *slog.Logger) *UserLimiter {
	return &UserLimiter{lim: newKeyedLimiter(perMinute), now: time.Now, log: log}
}

// Limit serves h while the caller has calls left, and otherwise answers 429
// rate_limited with Retry-After. It belongs inside RequireUser; a request
// without a caller is passed through.
func (l *UserLimiter) Limit(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := CallerFrom(r.Context())
		if ok {
			if ok, wait := l.lim.take(c.User.ID, l.now()); !ok {
				retry := max(1, int(math.Ceil(wait.Seconds())))
				w.Header().Set("Retry-After", strconv.Itoa(retry))
				WriteError(w, r, l.log, store.Errorf(store.CodeRateLimited, "too many changes; retry in %d s", retry))
				return
			}
		}
		h(w, r)
	}
}
