package main

// Regression tests for the findings of the hardening review (issue 13): each
// reproduces an attack that used to succeed against default settings.

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Request methods are any token a client likes; they must not become metric
// series (which are never freed) or fill the log.
func TestMetricsLabelsAreBounded(t *testing.T) {
	srv := startServer(t, testConfig(t, "sqlite"))
	metricsSize := func() int {
		resp, err := http.Get(srv.URL() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("metrics: %d", resp.StatusCode)
		}
		if strings.Contains(string(body), "XMETHOD") {
			t.Fatalf("a client's method name became a label value")
		}
		return len(body)
	}
	metricsSize()
	before := metricsSize()
	for i := range 50 {
		method := fmt.Sprintf("XMETHOD%d%s", i, strings.Repeat("Z", 2000))
		req, err := http.NewRequest(method, srv.URL()+"/api/docs", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// One new series (method "other") may appear; 50 × 2 KB may not.
	if after := metricsSize(); after > before+2000 {
		t.Errorf("/metrics grew from %d to %d bytes after 50 odd methods", before, after)
	}
}

// --metrics-addr moves /metrics off the public address.
func TestMetricsAddr(t *testing.T) {
	cfg := testConfig(t, "sqlite")
	cfg.metricsAddr = "127.0.0.1:0"
	srv := startServer(t, cfg)
	resp, err := http.Get(srv.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Errorf("public /metrics answered 200 with --metrics-addr set")
	}
	resp, err = http.Get("http://" + srv.metrics.addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "tandem_http_requests_total") {
		t.Errorf("metrics listener: %d %.200s", resp.StatusCode, body)
	}
}
