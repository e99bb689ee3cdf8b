package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"tandem/ot"
)

// do makes a REST request with the connection's credentials and decodes a
// 2xx JSON answer into out (if not nil). A refusal comes back as *Error.
func (c *Conn) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %w", method, path, httpError(resp))
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode: %w", method, path, err)
	}
	return nil
}

// httpError reads a refusal's JSON body {code, message} into an *Error.
func httpError(resp *http.Response) *Error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	e := &Error{Status: resp.StatusCode}
	if json.Unmarshal(data, e) != nil || e.Code == "" {
		e.Code, e.Message = "http", fmt.Sprintf("unexpected answer: %.200s", data)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

// UnmarshalJSON reads the {code, message} error body.
func (e *Error) UnmarshalJSON(data []byte) error {
	var v struct{ Code, Message string }
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	e.Code, e.Message = v.Code, v.Message
	return nil
}

// fetchOps reads the stored ops from..to of doc, following the pages.
func (c *Conn) fetchOps(ctx context.Context, doc string, from, to int64) ([]opRecord, error) {
	var all []opRecord
	for from <= to {
		var page struct {
			Ops  []opRecord `json:"ops"`
			Next *int64     `json:"next"`
		}
		path := fmt.Sprintf("/api/docs/%s/ops?from=%d&to=%d", url.PathEscape(doc), from, to)
		if err := c.do(ctx, http.MethodGet, path, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Ops...)
		if page.Next == nil || len(page.Ops) == 0 {
			break
		}
		from = *page.Next
	}
	return all, nil
}

// submitOp sends an op over REST (§11): for ops too large for a frame.
func (c *Conn) submitOp(ctx context.Context, doc string, version int64, id string, op ot.Op) error {
	body := struct {
		Version int64  `json:"version"`
		ID      string `json:"id"`
		Op      ot.Op  `json:"op"`
	}{version, id, op}
	return c.do(ctx, http.MethodPost, "/api/docs/"+url.PathEscape(doc)+"/ops", body, nil)
}
