package auth

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"tandem/store/httpapi"
)

// KeyedLimiter is a token bucket per key (an IP, an email, a user id).
// Buckets idle for longer than it takes to refill are forgotten, so memory
// stays bounded by the keys seen in that window.
type KeyedLimiter struct {
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

// NewKeyedLimiter returns buckets that refill at every tokens a second and
// hold at most burst (at least 1).
func NewKeyedLimiter(every rate.Limit, burst int) *KeyedLimiter {
	burst = max(1, burst)
	refill := time.Duration(float64(burst) / float64(every) * float64(time.Second))
	return &KeyedLimiter{
		every:   every,
		burst:   burst,
		idle:    max(2*time.Minute, refill),
		buckets: make(map[string]*bucket),
	}
}

// newKeyedLimiter is a limiter of perMinute attempts a minute, with as much
// burst.
func newKeyedLimiter(perMinute int) *KeyedLimiter {
	perMinute = max(1, perMinute)
	return NewKeyedLimiter(rate.Limit(float64(perMinute)/60), perMinute)
}

// Take spends n tokens of key's bucket at now (n above the burst spends a
// whole full bucket); if they are not there it spends none and returns how
// long until they will be.
func (k *KeyedLimiter) Take(key string, n int, now time.Time) (ok bool, retry time.Duration) {
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
	r := b.lim.ReserveN(now, min(max(n, 1), k.burst))
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// take spends one token.
func (k *KeyedLimiter) take(key string, now time.Time) (ok bool, retry time.Duration) {
	return k.Take(key, 1, now)
}

// loginLimits bounds sign-in and sign-up attempts per client IP and per
// account (the email tried). The tight per-account limit is kept per IP and
// account, so that guessing someone's password from one address does not
// lock them out from theirs; a limit ten times looser applies to the account
// from every address together, which bounds guessing from many addresses at
// the cost that such an attack does lock the account for a while.
type loginLimits struct {
	perIP, perIPAccount, perAccount *KeyedLimiter
	now                             func() time.Time
}

// accountSpread is how much looser the all-addresses account limit is.
const accountSpread = 10

func newLoginLimits(perIP, perAccount int, now func() time.Time) *loginLimits {
	return &loginLimits{
		perIP:        newKeyedLimiter(perIP),
		perIPAccount: newKeyedLimiter(perAccount),
		perAccount:   newKeyedLimiter(accountSpread * max(1, perAccount)),
		now:          now,
	}
}

// allow spends an attempt for the IP and the account; if any limit is out,
// it returns the wait in whole seconds (at least 1), for Retry-After.
func (l *loginLimits) allow(ip, account string) (ok bool, retrySeconds int) {
	now := l.now()
	ok, wait := l.perIP.take(ip, now)
	if account != "" {
		okPair, waitPair := l.perIPAccount.take(ip+"\x00"+account, now)
		okAcct, waitAcct := l.perAccount.take(account, now)
		ok = ok && okPair && okAcct
		wait = max(wait, waitPair, waitAcct)
	}
	if ok {
		return true, 0
	}
	return false, httpapi.RetrySeconds(wait)
}

// UserLimiter bounds how often each signed-in user may call a route, such
// as changing a document's members or posting ops: a token bucket per user
// id.
type UserLimiter struct {
	lim  *KeyedLimiter
	what string // says what was refused: "too many changes"
	now  func() time.Time
	log  *slog.Logger
}

// NewUserLimiter returns a limiter of every calls a second per user, with
// burst; what words its refusals.
func NewUserLimiter(every rate.Limit, burst int, what string, log *slog.Logger) *UserLimiter {
	return &UserLimiter{lim: NewKeyedLimiter(every, burst), what: what, now: time.Now, log: log}
}

// Limit serves h while the caller has calls left, and otherwise answers 429
// rate_limited with Retry-After. It belongs inside RequireUser; a request
// without a caller is passed through.
func (l *UserLimiter) Limit(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := CallerFrom(r.Context())
		if ok {
			if ok, wait := l.lim.take(c.User.ID, l.now()); !ok {
				httpapi.WriteRateLimited(w, r, l.log, wait, l.what)
				return
			}
		}
		h(w, r)
	}
}
