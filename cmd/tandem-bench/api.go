package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strconv"
	"strings"
	"time"
)

// api speaks the REST API as one user (by bearer token once it has one).
type api struct {
	base  string
	http  *http.Client
	token string
}

func newAPI(base string) *api {
	return &api{base: strings.TrimSuffix(base, "/"), http: &http.Client{Timeout: 60 * time.Second}}
}

// at is the same user speaking to another node of the cluster.
func (a *api) at(base string) *api {
	b := *a
	b.base = strings.TrimSuffix(base, "/")
	return &b
}

// call sends a JSON request and decodes a 2xx response into out.
func (a *api) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(data))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// signup makes an account and an API token for it.
func signup(ctx context.Context, base, email string) (*api, error) {
	a := newAPI(base)
	// The token is made with the session cookie that signup sets, then
	// used alone.
	a.http.Jar, _ = cookiejar.New(nil)
	if err := a.call(ctx, "POST", "/api/signup", map[string]string{"email": email, "password": "bench password", "name": strings.Split(email, "@")[0]}, nil); err != nil {
		return nil, err
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := a.call(ctx, "POST", "/api/tokens", map[string]string{"name": "tandem-bench"}, &tok); err != nil {
		return nil, err
	}
	a.http.Jar = nil
	a.token = tok.Token
	return a, nil
}

func (a *api) createDoc(ctx context.Context, title string) (string, error) {
	var d struct {
		ID string `json:"id"`
	}
	err := a.call(ctx, "POST", "/api/docs", map[string]string{"title": title}, &d)
	return d.ID, err
}

// share invites email to doc as an editor; it reports whether the invited
// account must accept (servers before invitations made members at once).
func (a *api) share(ctx context.Context, doc, email string) (invited bool, err error) {
	var res struct {
		Invitation *struct{} `json:"invitation"`
	}
	err = a.call(ctx, "PUT", "/api/docs/"+doc+"/members", map[string]string{"email": email, "role": "editor"}, &res)
	return res.Invitation != nil, err
}

// accept accepts an invitation to doc.
func (a *api) accept(ctx context.Context, doc string) error {
	return a.call(ctx, "POST", "/api/invitations/"+doc+"/accept", nil, nil)
}

// content is a document's text and version on the server.
func (a *api) content(ctx context.Context, doc string) (string, int64, error) {
	var c struct {
		Version int64  `json:"version"`
		Content string `json:"content"`
	}
	err := a.call(ctx, "GET", "/api/docs/"+doc+"/content", nil, &c)
	return c.Content, c.Version, err
}

// storedOps returns the id and version of every stored op of doc.
func (a *api) storedOps(ctx context.Context, doc string) ([]storedOp, error) {
	var all []storedOp
	from := int64(1)
	for {
		var page struct {
			Ops  []storedOp `json:"ops"`
			Next *int64     `json:"next"`
		}
		if err := a.call(ctx, "GET", fmt.Sprintf("/api/docs/%s/ops?from=%d&limit=1000", doc, from), nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Ops...)
		if page.Next == nil {
			return all, nil
		}
		from = *page.Next
	}
}

type storedOp struct {
	Version int64  `json:"version"`
	ID      string `json:"id"`
}

// rss reads the server's resident memory from /metrics (0 if absent).
func (a *api) rss(ctx context.Context) (rss float64, err error) {
	err = a.eachMetric(ctx, func(line string) bool {
		v, ok := strings.CutPrefix(line, "process_resident_memory_bytes ")
		if ok {
			rss, err = strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
		return !ok
	})
	return rss, err
}

// eachMetric hands fn each line of the server's /metrics until fn
// returns false.
func (a *api) eachMetric(ctx context.Context, fn func(line string) bool) error {
	req, err := http.NewRequestWithContext(ctx, "GET", a.base+"/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if !fn(sc.Text()) {
			return nil
		}
	}
	return sc.Err()
}

// opsBetween is a document's stored ops from version from to to, as the
// socket would have sent them one by one.
func (a *api) opsBetween(ctx context.Context, doc string, from, to int64) ([]msg, error) {
	var out []msg
	for from <= to {
		var page struct {
			Ops []struct {
				Version int64           `json:"version"`
				ID      string          `json:"id"`
				Op      json.RawMessage `json:"op"`
			} `json:"ops"`
		}
		if err := a.call(ctx, "GET", fmt.Sprintf("/api/docs/%s/ops?from=%d&limit=%d", doc, from, min(to-from+1, 1000)), nil, &page); err != nil {
			return nil, err
		}
		if len(page.Ops) == 0 {
			return nil, fmt.Errorf("no ops from version %d", from)
		}
		for _, o := range page.Ops {
			if o.Version > to {
				break
			}
			out = append(out, msg{typ: []byte("op"), version: o.Version, id: []byte(o.ID), op: o.Op})
			from = o.Version + 1
		}
	}
	return out, nil
}
