// Package frontend serves Tandem's web editor. Its sources are in src/ and
// are bundled by esbuild (npm run build) into dist/, which is committed and
// embedded here, so that go build and go run need no Node.
package frontend

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed dist
var dist embed.FS

// Pages are the paths the app answers with its page; it routes them itself.
var Pages = []string{"/{$}", "/signin", "/signup", "/d/{id}"}

// contentSecurityPolicy allows the page's own script, styles and socket and
// nothing else. Inline styles are allowed because the editor positions
// elements with style attributes.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

// asset is one embedded file, ready to serve.
type asset struct {
	body  []byte
	gzip  []byte // nil when compressing does not pay
	etag  string
	ctype string
}

// Handler serves the app's page and its assets.
type Handler struct {
	page   asset
	assets map[string]asset
}

// New loads the embedded build. It fails only if the build is missing, which
// means dist/ was not built before go build.
func New() (*Handler, error) {
	h := &Handler{assets: map[string]asset{}}
	err := fs.WalkDir(dist, "dist/assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		a, err := load(p)
		if err != nil {
			return err
		}
		h.assets[path.Base(p)] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("frontend: load assets: %w", err)
	}
	if h.page, err = load("dist/index.html"); err != nil {
		return nil, fmt.Errorf("frontend: load page: %w", err)
	}
	return h, nil
}

func load(name string) (asset, error) {
	body, err := dist.ReadFile(name)
	if err != nil {
		return asset{}, err
	}
	sum := sha256.Sum256(body)
	a := asset{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, ctype: mime.TypeByExtension(path.Ext(name))}
	if a.ctype == "" {
		a.ctype = "application/octet-stream"
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(body)
	if err := zw.Close(); err != nil {
		return asset{}, err
	}
	if buf.Len() < len(body)*9/10 {
		a.gzip = buf.Bytes()
	}
	return a, nil
}

// Register adds the page's routes and /assets/ to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	for _, p := range Pages {
		mux.HandleFunc("GET "+p, h.servePage)
	}
	mux.HandleFunc("GET /assets/{name}", h.serveAsset)
}

func (h *Handler) servePage(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "same-origin")
	hdr.Set("Cache-Control", "no-cache")
	serve(w, r, h.page)
}

func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := h.assets[r.PathValue("name")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	// The page names assets with a hash of their content (?v=...), so a
	// named version never changes.
	if r.URL.Query().Has("v") {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	serve(w, r, a)
}

// serve writes a, compressed when the client takes gzip, answering a
// matching If-None-Match with 304.
func serve(w http.ResponseWriter, r *http.Request, a asset) {
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Type", a.ctype)
	hdr.Set("Vary", "Accept-Encoding")
	body, etag := a.body, a.etag
	if a.gzip != nil && acceptsGzip(r) {
		hdr.Set("Content-Encoding", "gzip")
		// Each representation has its own tag.
		body, etag = a.gzip, strings.TrimSuffix(a.etag, `"`)+`-gz"`
	}
	hdr.Set("ETag", etag)
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, etag) {
		hdr.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr.Set("Content-Length", fmt.Sprint(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

func acceptsGzip(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		name, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}
