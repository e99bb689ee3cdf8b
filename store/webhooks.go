package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Webhooks are host apps' webhook settings and their delivery log: when a
// document an app owns changes, Tandem POSTs {doc, version, title} to the
// app's URL, signed with the webhook's secret (collab/webhooks.go).
type Webhooks interface {
	// SetWebhook sets (or replaces) the webhook of an app that is not
	// revoked: ErrNotFound otherwise, ErrInvalid for an empty URL or secret.
	SetWebhook(ctx context.Context, appID, url, secret string) (Webhook, error)
	// DeleteWebhook removes an app's webhook; ErrNotFound if it has none.
	DeleteWebhook(ctx context.Context, appID string) error
	// Webhook returns an app's webhook; ErrNotFound if it has none.
	Webhook(ctx context.Context, appID string) (Webhook, error)
	// DocWebhook returns the webhook of the app (not revoked) whose account
	// owns the document, with the document's title and version; ErrNotFound
	// if the document does not exist or no such app has a webhook.
	DocWebhook(ctx context.Context, docID string) (DocHook, error)
	// AnyWebhooks reports whether any app that is not revoked has a
	// webhook: a server without one looks nothing up when documents change.
	AnyWebhooks(ctx context.Context) (bool, error)
	// RecordDelivery appends an attempt to the log, and prunes the app's
	// log to its newest MaxDeliveries entries.
	RecordDelivery(ctx context.Context, d Delivery) error
	// Deliveries returns an app's latest deliveries, newest first, at most
	// limit (1..MaxDeliveries).
	Deliveries(ctx context.Context, appID string, limit int) ([]Delivery, error)
}

// MaxDeliveries is how many attempts the log keeps per app.
const MaxDeliveries = 500

// Webhook is an app's webhook. Secret signs the deliveries (stored as is:
// an HMAC needs the key) and is never shown after it is made.
type Webhook struct {
	AppID     string    `json:"app_id"`
	URL       string    `json:"url"`
	Secret    string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

// DocHook is where a document's change is delivered, and what it says.
type DocHook struct {
	Webhook
	Title   string
	Version int64
}

// Delivery is one attempt to deliver a change. Status is the receiver's
// HTTP status, 0 when there was none (Error says why).
type Delivery struct {
	ID         int64     `json:"id"`
	AppID      string    `json:"app_id"`
	DocID      string    `json:"doc"`
	Version    int64     `json:"version"`
	Attempt    int       `json:"attempt"`
	Status     int       `json:"status"`
	Error      string    `json:"error,omitempty"`
	At         time.Time `json:"at"`
	DurationMS int64     `json:"duration_ms"`
}

// CheckWebhook returns an error wrapping ErrInvalid unless url and secret
// are set and storable.
func CheckWebhook(url, secret string) error {
	if url == "" || secret == "" {
		return fmt.Errorf("%w: a webhook needs a URL and a secret", ErrInvalid)
	}
	return errors.Join(CheckText("webhook URL", url), CheckText("webhook secret", secret))
}

// CheckDeliveries returns an error wrapping ErrInvalid unless limit is 1
// to MaxDeliveries.
func CheckDeliveries(limit int) error {
	if limit < 1 || limit > MaxDeliveries {
		return fmt.Errorf("%w: limit must be 1 to %d", ErrInvalid, MaxDeliveries)
	}
	return nil
}
