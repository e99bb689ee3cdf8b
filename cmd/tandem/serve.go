package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"tandem/auth"
	"tandem/collab"
)

const serveUsage = `Usage:
  tandem serve [flags]

Runs the server: the REST API, the web editor and the metrics. With no flags
it keeps its data in ./tandem-data (the embedded store) and listens on
127.0.0.1:8080.

Flags:
`

// serveConfig is everything serve is told, from flags and environment.
type serveConfig struct {
	addr            string
	db              dbFlags
	waitForDB       time.Duration
	migrate         bool
	allowedOrigins  string
	publicURL       string
	tlsCert, tlsKey string
	secureCookies   bool
	sessionLifetime time.Duration
	sessionIdle     time.Duration
	logFormat       string
	logLevel        string
	shutdownTimeout time.Duration
	pprofAddr       string
	metricsAddr     string
	readTimeout     time.Duration
	idleTimeout     time.Duration
	advertiseURL    string
	clusterSecret   string
	leaseTTL        time.Duration
	admins          string

	argon2       auth.Argon2Params
	hashParallel int
	// collab holds every limit of the engine and the REST routes (auth's
	// in collab.Auth); its flags take their defaults from it.
	collab collab.Config
}

func (c *serveConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	c.db.register(fs)
	fs.DurationVar(&c.waitForDB, "wait-for-db", 0,
		"at start, keep trying to reach the database for this long (e.g. 60s when it starts beside the server); 0: fail at once")
	fs.BoolVar(&c.migrate, "migrate", false, "apply pending migrations at start instead of refusing to start")
	fs.StringVar(&c.allowedOrigins, "allowed-origins", "",
		"comma-separated origins (scheme://host[:port]) besides the server's own that browsers may call from")
	fs.StringVar(&c.publicURL, "public-url", "",
		"the origin browsers reach this server at (e.g. https://docs.example.com, behind a proxy); default: the request's own scheme and host")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate file (PEM); with --tls-key, serve HTTPS and WSS")
	fs.StringVar(&c.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	fs.BoolVar(&c.secureCookies, "secure-cookies", false,
		"mark cookies Secure even without --tls-cert (behind a TLS-terminating proxy); always on under TLS")
	fs.DurationVar(&c.sessionLifetime, "session-lifetime", 30*24*time.Hour, "a session ends this long after sign-in")
	fs.DurationVar(&c.sessionIdle, "session-idle", 7*24*time.Hour, "a session ends after this long unused")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&c.pprofAddr, "pprof-addr", "", "serve net/http/pprof on this separate address (e.g. 127.0.0.1:6060); off when empty")
	fs.StringVar(&c.metricsAddr, "metrics-addr", "",
		"serve /metrics on this separate address (e.g. 127.0.0.1:9090) instead of the public one")
	fs.DurationVar(&c.readTimeout, "read-timeout", 30*time.Second,
		"a request's headers and body must arrive within this (sockets are exempt once upgraded)")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", 2*time.Minute, "an idle keep-alive connection is closed after this")
	fs.StringVar(&c.advertiseURL, "advertise-url", "",
		"with --database-url: the URL other nodes reach this one at (default: http(s):// and the address it listens on)")
	fs.StringVar(&c.clusterSecret, "cluster-secret", "",
		"with --database-url: the secret every node of the cluster shares (16+ characters); needed once another node is registered")
	fs.DurationVar(&c.leaseTTL, "lease-ttl", 10*time.Second,
		"with --database-url: a document's owner that stops renewing its lease loses it after this (failover takes about this long)")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 15*time.Second,
		"on SIGINT/SIGTERM, how long in-flight requests may take to finish")

	c.collab = collab.DefaultConfig()
	a := &c.collab.Auth
	fs.Int64Var(&a.MaxBodyBytes, "max-body-bytes", a.MaxBodyBytes, "largest request body, except document content")
	fs.IntVar(&a.LoginPerIP, "login-rate-ip", a.LoginPerIP, "sign-in and sign-up attempts per minute per client IP")
	fs.IntVar(&a.LoginPerAccount, "login-rate-account", a.LoginPerAccount, "sign-in attempts per minute per account")
	fs.StringVar(&c.admins, "admins", "",
		"comma-separated emails of existing accounts that manage host apps over REST (/api/apps)")
	fs.DurationVar(&a.MaxAppTokenLifetime, "max-app-token-lifetime", a.MaxAppTokenLifetime,
		"the longest a host app's JWT may live (exp at most this far ahead); its sockets close at exp")
	fs.DurationVar(&a.TicketTTL, "socket-ticket-ttl", a.TicketTTL, "how long a socket ticket stays usable (at most 1m)")
	fs.Func("trusted-proxies", "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For names the client (for per-IP limits)", func(v string) error {
		p, err := auth.ParseProxies(v)
		a.TrustedProxies = p
		return err
	})
	c.argon2 = auth.DefaultArgon2
	var memKiB uint = uint(c.argon2.MemoryKiB)
	fs.Func("argon2-memory-kib", fmt.Sprintf("argon2id memory per password hash, KiB (default %d)", memKiB), func(s string) error {
		var n uint
		if _, err := fmt.Sscan(s, &n); err != nil || n < 8*1024 || n > 4*1024*1024 {
			return errors.New("must be 8192 to 4194304")
		}
		c.argon2.MemoryKiB = uint32(n)
		return nil
	})
	fs.IntVar(&c.hashParallel, "hash-concurrency", 2, "password hashes computed at once (each takes --argon2-memory-kib)")
	e := &c.collab
	fs.DurationVar(&e.WebhookDebounce, "webhook-debounce", e.WebhookDebounce,
		"a host app's webhook hears of a document's changes at most once per this (and once when its room closes)")
	fs.IntVar(&e.WebhookRetries, "webhook-retries", e.WebhookRetries, "attempts per webhook delivery, the first included")
	fs.DurationVar(&e.WebhookBackoff, "webhook-backoff", e.WebhookBackoff,
		"wait before a webhook delivery's first retry; it doubles for each next one")
	fs.DurationVar(&e.WebhookTimeout, "webhook-timeout", e.WebhookTimeout, "one webhook attempt's HTTP request, from dial to response")
	fs.IntVar(&e.WebhookWorkers, "webhook-workers", e.WebhookWorkers, "webhook attempts under way at once")
	fs.BoolVar(&e.WebhookAllowPrivate, "webhook-allow-private", e.WebhookAllowPrivate,
		"allow webhook URLs on loopback, private and link-local addresses (refused by default: server-side request forgery)")
	fs.IntVar(&e.MaxDocBytes, "max-doc-bytes", e.MaxDocBytes, "largest document, in bytes of UTF-8")
	fs.IntVar(&e.MaxPageOps, "max-page-ops", e.MaxPageOps, "most operations in one page of history")
	fs.IntVar(&e.MaxPageBytes, "max-page-bytes", e.MaxPageBytes,
		"most bytes of operations in one page of history (a single larger op is sent alone)")
	fs.IntVar(&e.MemberChangesPerMinute, "member-changes-per-minute", e.MemberChangesPerMinute,
		"shares, member removals and revoked invitations per minute per user (burst as many)")
	fs.Int64Var(&e.MaxFrameBytes, "max-frame-bytes", e.MaxFrameBytes, "largest WebSocket message a client may send")
	fs.Float64Var(&e.OpsPerSecond, "ops-per-second", e.OpsPerSecond, "ops a connection may send per second (token bucket)")
	fs.IntVar(&e.OpsBurst, "ops-burst", e.OpsBurst, "burst of the ops token bucket")
	fs.IntVar(&e.WriteBytesPerMin, "write-bytes-per-minute", e.WriteBytesPerMin,
		"bytes of ops one user may write per minute, socket and REST together (burst: as much); bounds how fast storage grows")
	fs.Float64Var(&e.PresencePerSecond, "presence-per-second", e.PresencePerSecond, "presence updates a connection may send per second")
	fs.IntVar(&e.PresenceBurst, "presence-burst", e.PresenceBurst, "burst of the presence token bucket")
	fs.Float64Var(&e.JoinsPerSecond, "joins-per-second", e.JoinsPerSecond, "joins and leaves a connection may send per second (burst: twice that)")
	fs.IntVar(&e.FloodStrikes, "flood-strikes", e.FloodStrikes, "rate-limited messages in a row before a connection is closed")
	fs.IntVar(&e.DocsPerConn, "docs-per-conn", e.DocsPerConn, "documents one connection may join")
	fs.IntVar(&e.ConnsPerUser, "conns-per-user", e.ConnsPerUser, "sockets one user may hold open")
	fs.IntVar(&e.OutQueue, "out-queue", e.OutQueue,
		"messages queued for a slow connection before its queue is compacted (its ops composed, presence replaced by the latest), once it is behind (--behind-after)")
	fs.DurationVar(&e.BehindAfter, "behind-after", e.BehindAfter,
		"a connection's queue is compacted only once its oldest message has waited this long (or it holds 32 times --out-queue): a busy room's writers gather frames without being behind")
	fs.IntVar(&e.SendBuffer, "socket-send-buffer", e.SendBuffer,
		"a socket's kernel send buffer in bytes (0: the system's); a slow reader's backlog beyond it waits where it is compacted")
	fs.DurationVar(&e.PingInterval, "ping-interval", e.PingInterval, "keepalive ping period")
	fs.DurationVar(&e.PingTimeout, "ping-timeout", e.PingTimeout, "a peer that does not answer a ping within this is dropped")
	fs.DurationVar(&e.IdleRoom, "idle-room", e.IdleRoom, "an empty document room closes after this")
	fs.IntVar(&e.MaxBatch, "max-batch", e.MaxBatch, "most operations in one group commit")
	fs.IntVar(&e.WindowOps, "window-ops", e.WindowOps, "recent operations a room keeps in memory; a rejoin within them gets ops, else the content")
	fs.IntVar(&e.WindowBytes, "window-bytes", e.WindowBytes, "at most about this many bytes of recent operations a room keeps in memory")
	fs.IntVar(&e.MaxBehind, "max-behind", e.MaxBehind, "how many versions behind the head an op or presence may be made")
	fs.DurationVar(&e.PresenceEvery, "presence-every", e.PresenceEvery, "presence broadcasts are coalesced over this period")
	fs.DurationVar(&e.WriteTimeout, "write-timeout", e.WriteTimeout, "a connection that takes longer than this to accept a frame is dropped")
	fs.DurationVar(&e.Coalesce, "coalesce", e.Coalesce, "after a message, a socket's writer waits this long for more to send in the same frame (0: off)")
	fs.DurationVar(&e.CoalesceMax, "coalesce-max", e.CoalesceMax,
		"in a room over its frame budget, writers wait up to this long, so each socket gets fewer, fuller frames")
	fs.IntVar(&e.RoomFrames, "room-frames-per-second", e.RoomFrames,
		"frames per second a document's sockets may be written in all before their coalescing wait grows (up to --coalesce-max)")
}

// validate checks the settings together, after parsing.
func (c *serveConfig) validate() error {
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		return fmt.Errorf("--addr %q: %w", c.addr, err)
	}
	if c.metricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.metricsAddr); err != nil {
			return fmt.Errorf("--metrics-addr %q: %w", c.metricsAddr, err)
		}
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return fmt.Errorf("--log-format must be text or json, not %q", c.logFormat)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	if c.waitForDB < 0 {
		return errors.New("--wait-for-db must not be negative")
	}
	if err := c.validateCluster(); err != nil {
		return err
	}
	if _, err := c.originPolicy(); err != nil {
		return err
	}
	if err := c.collab.Validate(); err != nil {
		return err
	}
	for _, s := range []struct {
		flag string
		v    int64
	}{
		{"--hash-concurrency", int64(c.hashParallel)},
		{"--session-lifetime", int64(c.sessionLifetime)}, {"--session-idle", int64(c.sessionIdle)},
		{"--shutdown-timeout", int64(c.shutdownTimeout)}, {"--read-timeout", int64(c.readTimeout)},
		{"--idle-timeout", int64(c.idleTimeout)},
	} {
		if s.v <= 0 {
			return fmt.Errorf("%s must be positive", s.flag)
		}
	}
	return nil
}

func (c *serveConfig) origins() []string {
	var out []string
	for o := range strings.SplitSeq(c.allowedOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, strings.TrimSuffix(o, "/"))
		}
	}
	return out
}

// originPolicy is which browser origins may use the server: its own (from
// --public-url, or the request's scheme and host; https behind a TLS proxy
// when --secure-cookies says so, or a --trusted-proxies peer sends
// X-Forwarded-Proto: https) and --allowed-origins.
func (c *serveConfig) originPolicy() (*auth.OriginPolicy, error) {
	p, err := auth.NewOriginPolicy(c.publicURL, c.origins(), c.tlsCert != "" || c.secureCookies, c.collab.Auth.TrustedProxies)
	if err != nil {
		flag := "--allowed-origins"
		if _, perr := auth.NewOriginPolicy(c.publicURL, nil, false, nil); perr != nil {
			flag = "--public-url"
		}
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return p, nil
}

func (c *serveConfig) logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.logLevel)) // validated
	opts := &slog.HandlerOptions{Level: lvl}
	if c.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serveCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("tandem serve", serveUsage, stderr)
	var cfg serveConfig
	cfg.register(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError(fs, "tandem serve: unexpected argument %q", pos[0])
	}
	if err := cfg.validate(); err != nil {
		return usageError(fs, "tandem serve: %v", err)
	}
	log := cfg.logger(stderr)
	srv, err := newServer(ctx, cfg, log)
	if err != nil {
		return err
	}
	if cfg.pprofAddr != "" {
		stopProfiling, err := serveProfiles(cfg.pprofAddr, log)
		if err != nil {
			srv.Close()
			return err
		}
		defer stopProfiling()
	}
	fmt.Fprintf(stdout, "tandem: serving on %s\n", srv.URL())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve() }()
	select {
	case err := <-errc:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.shutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if serveErr := <-errc; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// serveProfiles serves the runtime profiles on their own listener, so they
// are never exposed on the public address by accident.
func serveProfiles(addr string, log *slog.Logger) (stop func(), err error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	side, err := startSideServer(addr, mux)
	if err != nil {
		return nil, fmt.Errorf("--pprof-addr: %w", err)
	}
	log.Info("profiles served", "addr", "http://"+side.addr()+"/debug/pprof/")
	return side.close, nil
}
