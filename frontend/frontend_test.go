package frontend

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	h, err := New()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	// A bare transport, so that gzip is not undone behind the test's back.
	res, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

func TestPageRoutes(t *testing.T) {
	srv := newServer(t)
	for _, path := range []string{"/", "/signin", "/signup", "/d/abc123"} {
		res, body := get(t, srv.URL+path)
		if res.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`<div id="app">`)) {
			t.Errorf("GET %s: %d %.80q", path, res.StatusCode, body)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
		if res.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("GET %s: the page must be revalidated, Cache-Control %q", path, res.Header.Get("Cache-Control"))
		}
	}
	for _, path := range []string{"/d/", "/d/a/b", "/nope", "/assets/nope.js"} {
		if res, _ := get(t, srv.URL+path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, res.StatusCode)
		}
	}
}

// TestPageNamesItsAssets checks that the committed build is whole: every
// asset the page loads exists, and its ?v= is the hash of its content.
func TestPageNamesItsAssets(t *testing.T) {
	srv := newServer(t)
	_, page := get(t, srv.URL+"/")
	refs := regexp.MustCompile(`/assets/([a-z.]+)\?v=([0-9a-f]+)`).FindAllStringSubmatch(string(page), -1)
	if len(refs) != 2 {
		t.Fatalf("page names %d versioned assets, want 2 (script and stylesheet): %s", len(refs), page)
	}
	for _, ref := range refs {
		res, body := get(t, srv.URL+ref[0])
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", ref[0], res.StatusCode)
		}
		sum := sha256.Sum256(body)
		if !strings.HasPrefix(hex.EncodeToString(sum[:]), ref[2]) {
			t.Errorf("%s: ?v=%s does not match its content: rebuild with npm run build", ref[1], ref[2])
		}
		if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("%s: Cache-Control %q", ref[0], cc)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", ref[0])
		}
	}
}

func TestAssetCompressionAndRevalidation(t *testing.T) {
	srv := newServer(t)
	plainRes, plain := get(t, srv.URL+"/assets/app.js")
	if ct := plainRes.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("Content-Type %q", ct)
	}
	gzRes, gz := get(t, srv.URL+"/assets/app.js", "Accept-Encoding", "br, gzip")
	if gzRes.Header.Get("Content-Encoding") != "gzip" || len(gz) >= len(plain)/2 {
		t.Fatalf("gzip: encoding %q, %d bytes of %d", gzRes.Header.Get("Content-Encoding"), len(gz), len(plain))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(unzipped, plain) {
		t.Fatalf("gzip body does not unpack to the asset (%v)", err)
	}
	if plainRes.Header.Get("ETag") == gzRes.Header.Get("ETag") {
		t.Error("both encodings have one ETag")
	}
	if res, _ := get(t, srv.URL+"/assets/app.js", "Accept-Encoding", "gzip;q=0"); res.Header.Get("Content-Encoding") != "" {
		t.Error("gzip sent though refused")
	}
	res, body := get(t, srv.URL+"/assets/app.js", "Accept-Encoding", "gzip", "If-None-Match", gzRes.Header.Get("ETag"))
	if res.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("revalidation: %d with %d bytes", res.StatusCode, len(body))
	}
}
