package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"tandem/store"
)

// SetWebhook implements store.Webhooks.
func (db *DB) SetWebhook(ctx context.Context, appID, url, secret string) (store.Webhook, error) {
	if err := errors.Join(store.CheckKeys(appID), store.CheckWebhook(url, secret)); err != nil {
		return store.Webhook{}, fmt.Errorf("set webhook: %w", err)
	}
	w := store.Webhook{AppID: appID, URL: url, Secret: secret, CreatedAt: db.now()}
	tag, err := db.pool.Exec(ctx, `INSERT INTO webhooks (app_id, url, secret, created_at)
		SELECT id, $2, $3, $4 FROM apps WHERE id = $1 AND revoked_at IS NULL
		ON CONFLICT (app_id) DO UPDATE SET url = excluded.url, secret = excluded.secret, created_at = excluded.created_at`,
		appID, url, secret, w.CreatedAt)
	if err != nil {
		return store.Webhook{}, fmt.Errorf("set webhook of app %s: %w", appID, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return store.Webhook{}, fmt.Errorf("set webhook of app %s: %w", appID, store.ErrNotFound)
	}
	return w, nil
}

// DeleteWebhook implements store.Webhooks.
func (db *DB) DeleteWebhook(ctx context.Context, appID string) error {
	if err := store.CheckKeys(appID); err != nil {
		return fmt.Errorf("delete webhook: %w", err)
	}
	tag, err := db.pool.Exec(ctx, `DELETE FROM webhooks WHERE app_id = $1`, appID)
	if err != nil {
		return fmt.Errorf("delete webhook of app %s: %w", appID, translate(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete webhook of app %s: %w", appID, store.ErrNotFound)
	}
	return nil
}

// Webhook implements store.Webhooks.
func (db *DB) Webhook(ctx context.Context, appID string) (store.Webhook, error) {
	if err := store.CheckKeys(appID); err != nil {
		return store.Webhook{}, fmt.Errorf("webhook: %w", err)
	}
	var w store.Webhook
	err := db.pool.QueryRow(ctx, `SELECT app_id, url, secret, created_at FROM webhooks WHERE app_id = $1`, appID).
		Scan(&w.AppID, &w.URL, &w.Secret, &w.CreatedAt)
	if err != nil {
		return store.Webhook{}, fmt.Errorf("webhook of app %s: %w", appID, translate(err))
	}
	return w, nil
}

// AnyWebhooks implements store.Webhooks.
func (db *DB) AnyWebhooks(ctx context.Context) (bool, error) {
	var any bool
	if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM webhooks w JOIN apps a ON a.id = w.app_id WHERE a.revoked_at IS NULL)`).Scan(&any); err != nil {
		return false, fmt.Errorf("any webhooks: %w", translate(err))
	}
	return any, nil
}

// DocWebhook implements store.Webhooks.
func (db *DB) DocWebhook(ctx context.Context, docID string) (store.DocHook, error) {
	if err := store.CheckKeys(docID); err != nil {
		return store.DocHook{}, fmt.Errorf("document webhook: %w", err)
	}
	var h store.DocHook
	err := db.pool.QueryRow(ctx, `SELECT w.app_id, w.url, w.secret, w.created_at, d.title, d.version
		FROM documents d
		JOIN members m ON m.doc_id = d.id AND m.role = 'owner'
		JOIN apps a ON a.user_id = m.user_id AND a.revoked_at IS NULL
		JOIN webhooks w ON w.app_id = a.id
		WHERE d.id = $1 ORDER BY a.created_at LIMIT 1`, docID).
		Scan(&h.AppID, &h.URL, &h.Secret, &h.CreatedAt, &h.Title, &h.Version)
	if err != nil {
		return store.DocHook{}, fmt.Errorf("webhook of document %s: %w", docID, translate(err))
	}
	return h, nil
}

// RecordDelivery implements store.Webhooks. The prune is one statement
// over the app's index: the log never holds much more than MaxDeliveries
// rows per app.
func (db *DB) RecordDelivery(ctx context.Context, d store.Delivery) error {
	if err := store.CheckKeys(d.AppID, d.DocID); err != nil {
		return fmt.Errorf("record delivery: %w", err)
	}
	if err := store.CheckText("delivery error", d.Error); err != nil {
		return fmt.Errorf("record delivery: %w", err)
	}
	err := db.inTx(ctx, pgx.TxOptions{}, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO webhook_deliveries (app_id, doc_id, version, attempt, status, error, at, duration_ms)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, d.AppID, d.DocID, d.Version, d.Attempt, d.Status, d.Error, d.At, d.DurationMS)
		b.Queue(`DELETE FROM webhook_deliveries WHERE app_id = $1 AND id <=
			(SELECT id FROM webhook_deliveries WHERE app_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)`, d.AppID, store.MaxDeliveries)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("record delivery to app %s: %w", d.AppID, translate(err))
	}
	return nil
}

// Deliveries implements store.Webhooks.
func (db *DB) Deliveries(ctx context.Context, appID string, limit int) ([]store.Delivery, error) {
	if err := errors.Join(store.CheckKeys(appID), store.CheckDeliveries(limit)); err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	rows, err := db.pool.Query(ctx, `SELECT id, app_id, doc_id, version, attempt, status, error, at, duration_ms
		FROM webhook_deliveries WHERE app_id = $1 ORDER BY id DESC LIMIT $2`, appID, limit)
	if err != nil {
		return nil, fmt.Errorf("deliveries of app %s: %w", appID, translate(err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Delivery, error) {
		var d store.Delivery
		err := r.Scan(&d.ID, &d.AppID, &d.DocID, &d.Version, &d.Attempt, &d.Status, &d.Error, &d.At, &d.DurationMS)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("deliveries of app %s: %w", appID, translate(err))
	}
	return out, nil
}
