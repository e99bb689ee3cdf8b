package collab

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"tandem/store"
)

// WebhookEvent is the body of a webhook delivery.
type WebhookEvent struct {
	Doc     string `json:"doc"`
	Version int64  `json:"version"`
	Title   string `json:"title"`
}

// Webhook request headers. SignatureHeader is "t=<unix seconds>,v1=<hex
// HMAC-SHA256 of "<t>.<body>" under the webhook's secret>".
const (
	SignatureHeader = "Tandem-Signature"
	AppHeader       = "Tandem-App"
	AttemptHeader   = "Tandem-Attempt"
)

// SignWebhook returns the signature header of body sent at t.
func SignWebhook(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC(secret, ts, body))
}

func webhookMAC(secret, ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// VerifyWebhook checks a delivery's signature header against body, as a
// receiver does: the MAC must match and t be within tolerance of now (a
// replayed delivery is refused once it is older than that).
func VerifyWebhook(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for part := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("no timestamp in the signature")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("the signature's timestamp is %s away", d.Round(time.Second))
	}
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, webhookMAC(secret, ts, body)) {
		return errors.New("the signature does not match")
	}
	return nil
}

// sender POSTs deliveries.
type sender struct {
	client *http.Client
}

// newSender makes the HTTP client of deliveries: no proxy from the
// environment, no redirects followed (a 3xx is a failure), a timeout per
// attempt, and, unless cfg.WebhookAllowPrivate, a dialer that refuses
// loopback, private, link-local and other non-public addresses, whatever
// name resolved to them.
func newSender(cfg Config) *sender {
	dialer := &net.Dialer{Timeout: cfg.WebhookTimeout}
	if !cfg.WebhookAllowPrivate {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("webhook: dial %s: %w", address, err)
			}
			if !publicAddr(ap.Addr()) {
				return fmt.Errorf("webhook: %s is not a public address (see --webhook-allow-private)", ap.Addr())
			}
			return nil
		}
	}
	return &sender{client: &http.Client{
		Timeout: cfg.WebhookTimeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         dialer.DialContext,
			TLSHandshakeTimeout: cfg.WebhookTimeout,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// send makes one attempt and says how it went.
func (s *sender) send(ctx context.Context, doc string, h store.DocHook, version int64, attempt int) store.Delivery {
	start := time.Now()
	d := store.Delivery{AppID: h.AppID, DocID: doc, Version: version, Attempt: attempt, At: start.UTC()}
	d.Status, d.Error = s.post(ctx, doc, h, version, attempt, start)
	d.DurationMS = time.Since(start).Milliseconds()
	return d
}

func (s *sender) post(ctx context.Context, doc string, h store.DocHook, version int64, attempt int, now time.Time) (int, string) {
	body, err := json.Marshal(WebhookEvent{Doc: doc, Version: version, Title: h.Title})
	if err != nil {
		return 0, err.Error()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Tandem-Webhook/1")
	req.Header.Set(SignatureHeader, SignWebhook(h.Secret, now, body))
	req.Header.Set(AppHeader, h.AppID)
	req.Header.Set(AttemptHeader, strconv.Itoa(attempt))
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, "HTTP " + resp.Status
	}
	return resp.StatusCode, ""
}

// publicAddr reports whether a webhook may be sent to a: not loopback,
// private (RFC 1918, fc00::/7), link-local, shared (100.64.0.0/10),
// unspecified or multicast.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsGlobalUnicast() && !a.IsPrivate() && !sharedSpace.Contains(a)
}

var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

// MaxWebhookURL bounds a webhook URL's length.
const MaxWebhookURL = 2048

// CheckWebhookURL checks a webhook URL: absolute http or https, no
// credentials in it, and, unless allowPrivate, no loopback or private
// address or localhost name (names that resolve to one are refused when
// a delivery dials).
func CheckWebhookURL(raw string, allowPrivate bool) error {
	bad := func(why string) error { return store.Errorf(store.CodeBadRequest, "url: %s", why) }
	if len(raw) > MaxWebhookURL {
		return bad(fmt.Sprintf("longer than %d bytes", MaxWebhookURL))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return bad("must be an absolute http:// or https:// URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return bad("has no host")
	}
	if u.User != nil {
		return bad("must not hold credentials")
	}
	if u.Fragment != "" {
		return bad("must not have a fragment")
	}
	if allowPrivate {
		return nil
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return bad("localhost is refused (see --webhook-allow-private)")
	}
	if a, err := netip.ParseAddr(host); err == nil && !publicAddr(a) {
		return bad(a.String() + " is not a public address (see --webhook-allow-private)")
	}
	return nil
}
