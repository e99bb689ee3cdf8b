package main

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// recorder remembers a response's status and size for logs and metrics. It
// unwraps for http.ResponseController (flushing, hijacking a WebSocket).
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// routeKey holds, in a request's context, where the innermost middleware
// writes the route pattern the mux matched: middleware in between copies the
// request, so the outer one cannot read r.Pattern itself.
type routeKey struct{}

// observe logs one line per request (method, path, route, status, size,
// duration; never the query or headers, where secrets may be) and counts it
// in the metrics. capture must wrap the mux.
func observe(log *slog.Logger, m *httpMetrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route := new(string)
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), routeKey{}, route)))
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		took := time.Since(start)
		// Every label value comes from a closed set, so that no request can
		// add series: the patterns of the route table, known methods, and
		// the statuses the server writes.
		if *route == "" {
			*route = "unmatched"
		}
		method := methodLabel(r.Method)
		m.requests.WithLabelValues(*route, method, strconv.Itoa(rec.status)).Inc()
		m.latency.WithLabelValues(*route).Observe(took.Seconds())
		log.InfoContext(r.Context(), "request",
			"method", method, "path", clip(r.URL.Path, maxLoggedPath), "route", *route, "status", rec.status,
			"bytes", rec.bytes, "duration", took, "remote", r.RemoteAddr)
	})
}

// methodLabel is r.Method if it is one the server knows, else "other": the
// method is any token a client sends, up to the header limit.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}

// maxLoggedPath bounds the path in a request's log line; the rest is cut.
const maxLoggedPath = 512

// clip cuts s to at most n bytes, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// capture records the pattern the mux matched for observe.
func capture(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if route, ok := r.Context().Value(routeKey{}).(*string); ok {
			*route = r.Pattern
		}
	})
}

// httpMetrics counts requests by route and status and times them by route.
type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tandem_http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tandem_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}
