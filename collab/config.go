package collab

import (
	"fmt"
	"math"
	"time"

	"tandem/auth"
)

// Config is every setting of the engine and of the document routes, with
// the account routes' (Auth), which share their request body limit. Start
// from DefaultConfig and change what you need; Validate checks the result,
// and NewHub refuses a config that fails it: no zero number stands for a
// default (a nil Origins means the server's own origin only). The serve
// command's flags read their defaults from here.
type Config struct {
	// Auth configures the account routes. Its MaxBodyBytes bounds every
	// JSON request body, the document routes' too; a body that carries
	// document content may be larger by twice MaxDocBytes (JSON escaping).
	Auth auth.Config

	// Documents and their REST routes.
	MaxDocBytes  int // a document's text, in UTF-8 bytes
	MaxPageOps   int // operations in one page of history
	MaxPageBytes int // bytes of JSON in one page of history (one op may exceed it alone)
	// MemberChangesPerMinute bounds how many sharing and membership
	// changes (share, remove, revoke an invitation) one user may make per
	// minute, with an equal burst.
	MemberChangesPerMinute int
	WriteBytesPerMin       int // bytes of ops one user may write a minute, socket and REST together (burst: as much)

	// Sockets and rooms.
	MaxFrameBytes     int64              // one incoming WebSocket message
	OutQueue          int                // messages waiting for a slow connection before they are compacted (outbox.go)
	BehindAfter       time.Duration      // and how long the oldest of them has waited
	SendBuffer        int                // a socket's kernel send buffer, bytes (0: the system's); the rest of a backlog waits where it is compacted
	OpsPerSecond      float64            // per connection, with OpsBurst; also POST .../ops per user
	OpsBurst          int                //
	PresencePerSecond float64            // per connection, with PresenceBurst
	PresenceBurst     int                //
	JoinsPerSecond    float64            // joins and leaves per connection (burst: twice that)
	FloodStrikes      int                // rate-limited messages in a row before the connection is closed
	DocsPerConn       int                // documents one connection may join
	ConnsPerUser      int                // sockets one user may hold open
	PingInterval      time.Duration      // keepalive ping period
	PingTimeout       time.Duration      // a pong later than this drops the peer
	WriteTimeout      time.Duration      // a frame the peer takes longer than this to accept drops it
	Coalesce          time.Duration      // in a stream of messages, a writer waits this long for more to send in one frame (0: off)
	CoalesceMax       time.Duration      // the longest a busy room's writers wait (adaptive coalescing, pacer.go)
	RoomFrames        int                // frames per second a room's members may be sent before their wait grows past Coalesce
	IdleRoom          time.Duration      // a room with no one in it closes after this
	MaxBatch          int                // operations in one group commit
	WindowOps         int                // recent operations a room keeps in memory
	WindowBytes       int                // and at most about this many bytes of them
	MaxBehind         int                // how far behind the head an op's base version may be
	PresenceEvery     time.Duration      // presence broadcasts are coalesced over this period
	Origins           *auth.OriginPolicy // browser origins that may open a socket (nil: the server's own only)

	// Host apps' webhooks (webhooks.go).
	WebhookDebounce     time.Duration // a document's changes are delivered at most once per this
	WebhookRetries      int           // attempts per delivery, the first included
	WebhookBackoff      time.Duration // the wait before the first retry; it doubles for each next one
	WebhookTimeout      time.Duration // one attempt's HTTP request, from dial to the end of the response
	WebhookWorkers      int           // attempts under way at once
	WebhookAllowPrivate bool          // allow webhook URLs on loopback and private addresses (tests, private networks)
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Auth: auth.DefaultConfig(),

		MaxDocBytes:            1 << 20,
		MaxPageOps:             1000,
		MaxPageBytes:           4 << 20,
		MemberChangesPerMinute: 30,
		WriteBytesPerMin:       16 << 20,

		MaxFrameBytes:     256 << 10,
		OutQueue:          128,
		BehindAfter:       time.Second,
		SendBuffer:        64 << 10,
		OpsPerSecond:      100,
		OpsBurst:          200,
		PresencePerSecond: 30,
		PresenceBurst:     60,
		JoinsPerSecond:    10,
		FloodStrikes:      100,
		DocsPerConn:       32,
		ConnsPerUser:      32,
		PingInterval:      25 * time.Second,
		PingTimeout:       15 * time.Second,
		WriteTimeout:      10 * time.Second,
		Coalesce:          time.Millisecond,
		CoalesceMax:       50 * time.Millisecond,
		RoomFrames:        30000,
		IdleRoom:          30 * time.Second,
		MaxBatch:          256,
		WindowOps:         1000,
		WindowBytes:       8 << 20,
		MaxBehind:         10000,
		PresenceEvery:     40 * time.Millisecond,

		WebhookDebounce: 2 * time.Second,
		WebhookRetries:  6,
		WebhookBackoff:  time.Second,
		WebhookTimeout:  10 * time.Second,
		WebhookWorkers:  4,
	}
}

// Validate checks that every limit, rate and period is positive (Coalesce
// may be 0: off). Its errors name each setting by its serve flag.
func (c Config) Validate() error {
	if err := c.Auth.Validate(); err != nil {
		return err
	}
	if c.CoalesceMax < c.Coalesce {
		return fmt.Errorf("--coalesce-max must be at least --coalesce")
	}
	if c.SendBuffer < 0 {
		return fmt.Errorf("--socket-send-buffer must not be negative")
	}
	for _, s := range []struct {
		flag string
		ok   bool
	}{
		{"max-doc-bytes", c.MaxDocBytes > 0},
		{"max-page-ops", c.MaxPageOps > 0},
		{"max-page-bytes", c.MaxPageBytes > 0},
		{"member-changes-per-minute", c.MemberChangesPerMinute > 0},
		{"write-bytes-per-minute", c.WriteBytesPerMin > 0},
		{"max-frame-bytes", c.MaxFrameBytes > 0},
		{"out-queue", c.OutQueue > 0},
		{"behind-after", c.BehindAfter >= 0},
		{"ops-per-second", positiveRate(c.OpsPerSecond)},
		{"ops-burst", c.OpsBurst > 0},
		{"presence-per-second", positiveRate(c.PresencePerSecond)},
		{"presence-burst", c.PresenceBurst > 0},
		{"joins-per-second", positiveRate(c.JoinsPerSecond)},
		{"flood-strikes", c.FloodStrikes > 0},
		{"docs-per-conn", c.DocsPerConn > 0},
		{"conns-per-user", c.ConnsPerUser > 0},
		{"ping-interval", c.PingInterval > 0},
		{"ping-timeout", c.PingTimeout > 0},
		{"write-timeout", c.WriteTimeout > 0},
		{"idle-room", c.IdleRoom > 0},
		{"max-batch", c.MaxBatch > 0},
		{"window-ops", c.WindowOps > 0},
		{"window-bytes", c.WindowBytes > 0},
		{"max-behind", c.MaxBehind > 0},
		{"presence-every", c.PresenceEvery > 0},
		{"room-frames-per-second", c.RoomFrames > 0},
		{"webhook-debounce", c.WebhookDebounce > 0},
		{"webhook-retries", c.WebhookRetries > 0},
		{"webhook-backoff", c.WebhookBackoff > 0},
		{"webhook-timeout", c.WebhookTimeout > 0},
		{"webhook-workers", c.WebhookWorkers > 0},
	} {
		if !s.ok {
			return fmt.Errorf("--%s must be positive", s.flag)
		}
	}
	return nil
}

// positiveRate reports whether r is a usable rate: positive and finite
// (NaN is neither).
func positiveRate(r float64) bool { return r > 0 && !math.IsInf(r, 1) }
