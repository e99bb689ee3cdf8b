package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tandem/auth"
	"tandem/collab"
	"tandem/docs"
	"tandem/frontend"
	"tandem/migrations"
	"tandem/store"
	"tandem/store/httpapi"
)

// server is a running tandem serve: the wiring of store, auth, the APIs and
// the HTTP server. Tests start one on port 0 and a temp dir.
type server struct {
	cfg      serveConfig
	log      *slog.Logger
	backend  *backend
	migrator *migrations.Migrator
	hub      *collab.Hub
	auth     *auth.Service
	ready    *readiness
	http     *http.Server
	listener net.Listener
	tls      bool
	metrics  *sideServer // /metrics on --metrics-addr, if set
	// nodeID names this server among those on one database: made up at
	// start unless set before startDoorbell.
	nodeID   string
	doorbell *doorbell // to the other servers, on Postgres (doorbell.go)
}

// newServer opens the store, checks (or applies) migrations, builds the
// handler and listens. Serve then serves.
func newServer(ctx context.Context, cfg serveConfig, log *slog.Logger) (*server, error) {
	b, err := cfg.db.openWaiting(ctx, cfg.waitForDB, log)
	if err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, log: log, backend: b, tls: cfg.tlsCert != ""}
	if err := s.start(ctx); err != nil {
		s.metrics.close()
		if s.auth != nil {
			s.auth.Close()
		}
		b.Close()
		return nil, err
	}
	return s, nil
}

func (s *server) start(ctx context.Context) error {
	m, err := s.backend.migrator()
	if err != nil {
		return err
	}
	s.migrator = m
	migrate := s.cfg.migrate
	if !migrate && s.backend.dialect == migrations.SQLite {
		// A brand-new embedded store is set up, not upgraded: that is what
		// makes `tandem serve` work with no other step. An existing one that
		// is behind is refused like Postgres, so an upgrade is a decision.
		current, _, err := m.Versions(ctx)
		if err != nil {
			return err
		}
		migrate = current == 0
	}
	if migrate {
		res, err := m.Up(ctx)
		for _, r := range res {
			s.log.Info("applied migration", "name", r.Name, "duration", r.Duration)
		}
		if err != nil {
			return err
		}
	}
	if err := m.CheckCurrent(ctx); err != nil {
		return fmt.Errorf("%w; or start with --migrate", err)
	}

	handler, err := s.handler()
	if err != nil {
		return err
	}
	if err := s.auth.SetAdmins(ctx, auth.ParseAdmins(s.cfg.admins)); err != nil {
		return err
	}
	s.http = &http.Server{
		Handler: handler,
		// A client that trickles its headers or body holds a connection and
		// a goroutine: both are bounded. A socket outlives the deadline:
		// net/http clears it when the connection is hijacked
		// (TestReadTimeout holds it to that).
		ReadHeaderTimeout: min(10*time.Second, s.cfg.readTimeout),
		ReadTimeout:       s.cfg.readTimeout,
		IdleTimeout:       s.cfg.idleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ConnContext:       collab.ConnContext, // sockets get a small send buffer (collab.Config.SendBuffer)
	}
	if s.tls {
		cert, err := tls.LoadX509KeyPair(s.cfg.tlsCert, s.cfg.tlsKey)
		if err != nil {
			return fmt.Errorf("load TLS certificate: %w", err)
		}
		s.http.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", s.cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s.listener = ln
	s.nodeID = newNodeID()
	if err := s.joinCluster(ctx); err != nil {
		_ = ln.Close()
		return err
	}
	s.startDoorbell()
	return nil
}

// handler builds the routes and the middleware around them, outermost
// first: request log and metrics, cross-origin protection, sessions, caller.
func (s *server) handler() (http.Handler, error) {
	st := s.backend.store
	sessions := auth.NewSessionManager(s.backend.sessions, auth.SessionConfig{
		Lifetime:    s.cfg.sessionLifetime,
		IdleTimeout: s.cfg.sessionIdle,
		Secure:      s.tls || s.cfg.secureCookies,
	})
	hasher := auth.NewHasher(s.cfg.argon2, s.cfg.hashParallel)
	authSvc, err := auth.New(st, sessions, hasher, s.cfg.collab.Auth, s.log)
	if err != nil {
		return nil, err
	}
	s.auth = authSvc
	reg := prometheus.NewRegistry()
	// The scheduler's latencies (go_sched_latencies_seconds) show a node short of CPU:
	// goroutines ready to run that wait for a thread.
	reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/sched/latencies:seconds$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := newHTTPMetrics(reg)

	cfg := s.cfg.collab
	origins, err := s.cfg.originPolicy()
	if err != nil {
		return nil, err
	}
	cfg.Origins = origins
	s.ready = &readiness{
		log: s.log, ping: st.Ping, schema: s.migrator.CheckCurrent, checkWrite: s.backend.checkWrite,
		fresh: 2 * time.Second, now: time.Now,
	}
	if s.hub, err = collab.NewHub(watchCommits{Store: st, ready: s.ready}, cfg, s.log, reg); err != nil {
		return nil, err
	}
	authSvc.OnRevoke(s.hub.CloseCredential) // signing out closes that session's sockets
	docsAPI := collab.NewDocsAPI(st, authSvc, s.hub, s.log)

	web, err := frontend.New()
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	web.Register(mux)
	authSvc.Register(mux)
	authSvc.RegisterApps(mux)
	docsAPI.Register(mux)
	docsAPI.RegisterWebhooks(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /readyz", s.ready)
	mux.HandleFunc("GET /api/cluster/link", s.hub.ServeLink) // other nodes only: needs the cluster secret
	metricsHandler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if s.cfg.metricsAddr == "" {
		mux.Handle("GET /metrics", metricsHandler)
	} else {
		side := http.NewServeMux()
		side.Handle("GET /metrics", metricsHandler)
		if s.metrics, err = startSideServer(s.cfg.metricsAddr, side); err != nil {
			return nil, fmt.Errorf("--metrics-addr: %w", err)
		}
		s.log.Info("metrics served", "addr", "http://"+s.metrics.addr()+"/metrics")
	}
	mux.HandleFunc("GET /api/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(docs.OpenAPI)
	})
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteError(w, r, s.log, store.Errorf(store.CodeNotFound, "no route %s %s", r.Method, r.URL.Path))
	})

	cop := http.NewCrossOriginProtection()
	for _, o := range origins.Trusted() {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("--allowed-origins: %w", err)
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpapi.WriteError(w, r, s.log, store.Errorf(store.CodeForbidden, "cross-origin request refused"))
	}))

	h := capture(mux)
	h = probesFirst(capture(mux), authSvc.LoadSession(authSvc.Authenticate(h)))
	// Pages on --allowed-origins call a few routes with a host app's
	// token: their preflights are answered before the other checks.
	h = auth.NewCORS(origins).Handler(h)
	h = cop.Handler(h)
	h = origins.Protect(h, func(w http.ResponseWriter, r *http.Request, err error) { httpapi.WriteError(w, r, s.log, err) })
	h = noSniff(h)
	h = observe(s.log, metrics, h)
	return h, nil
}

// probesFirst serves the health and readiness probes with probes, before
// sessions and callers are looked up: a probe that carries a cookie must
// not fail because the session store does (a liveness probe would restart
// a server that only waits for its database), and probes need no caller.
func probesFirst(probes, rest http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && (r.URL.Path == "/healthz" || r.URL.Path == "/readyz") {
			probes.ServeHTTP(w, r)
			return
		}
		rest.ServeHTTP(w, r)
	})
}

// noSniff tells browsers to trust every response's Content-Type, never to
// guess one (a JSON body that echoes input must not be run as a script).
func noSniff(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// URL is where the server listens, e.g. http://127.0.0.1:8080.
func (s *server) URL() string {
	scheme := "http"
	if s.tls {
		scheme = "https"
	}
	return scheme + "://" + s.listener.Addr().String()
}

// Serve serves until Shutdown or Close; then it returns http.ErrServerClosed.
func (s *server) Serve() error {
	if s.tls {
		return s.http.ServeTLS(s.listener, "", "")
	}
	return s.http.Serve(s.listener)
}

// Shutdown stops accepting, waits for in-flight requests (until ctx ends),
// lets every room commit and acknowledge what it accepted, closes the
// sockets with "going away", then closes the store. (http.Server.Shutdown
// does not wait for hijacked connections: the hub has its own Close.)
func (s *server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	s.metrics.close()
	err = errors.Join(err, s.hub.Close(ctx))
	s.stopDoorbell()
	s.auth.Close()
	return errors.Join(err, s.backend.Close())
}

// Close stops at once: the rooms still drain, for at most a few seconds.
func (s *server) Close() error {
	err := s.http.Close()
	s.metrics.close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = errors.Join(err, s.hub.Close(ctx))
	s.stopDoorbell()
	s.auth.Close()
	return errors.Join(err, s.backend.Close())
}
