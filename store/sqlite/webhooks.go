package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"tandem/store"
)

// SetWebhook implements store.Webhooks.
func (db *DB) SetWebhook(ctx context.Context, appID, url, secret string) (store.Webhook, error) {
	if err := errors.Join(store.CheckKeys(appID), store.CheckWebhook(url, secret)); err != nil {
		return store.Webhook{}, fmt.Errorf("set webhook: %w", err)
	}
	w := store.Webhook{AppID: appID, URL: url, Secret: secret, CreatedAt: db.now()}
	res, err := db.write.ExecContext(ctx, `INSERT INTO webhooks (app_id, url, secret, created_at)
		SELECT id, ?, ?, ? FROM apps WHERE id = ? AND revoked_at IS NULL
		ON CONFLICT (app_id) DO UPDATE SET url = excluded.url, secret = excluded.secret, created_at = excluded.created_at`,
		url, secret, millis(w.CreatedAt), appID)
	if err != nil {
		return store.Webhook{}, fmt.Errorf("set webhook of app %s: %w", appID, translate(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.Webhook{}, fmt.Errorf("set webhook of app %s: %w", appID, store.ErrNotFound)
	}
	return w, nil
}

// DeleteWebhook implements store.Webhooks.
func (db *DB) DeleteWebhook(ctx context.Context, appID string) error {
	if err := store.CheckKeys(appID); err != nil {
		return fmt.Errorf("delete webhook: %w", err)
	}
	res, err := db.write.ExecContext(ctx, `DELETE FROM webhooks WHERE app_id = ?`, appID)
	if err != nil {
		return fmt.Errorf("delete webhook of app %s: %w", appID, translate(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
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
	var created int64
	err := db.read.QueryRowContext(ctx, `SELECT app_id, url, secret, created_at FROM webhooks WHERE app_id = ?`, appID).
		Scan(&w.AppID, &w.URL, &w.Secret, &created)
	if err != nil {
		return store.Webhook{}, fmt.Errorf("webhook of app %s: %w", appID, translate(err))
	}
	w.CreatedAt = fromMillis(created)
	return w, nil
}

// AnyWebhooks implements store.Webhooks.
func (db *DB) AnyWebhooks(ctx context.Context) (bool, error) {
	var any bool
	if err := db.read.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM webhooks w JOIN apps a ON a.id = w.app_id WHERE a.revoked_at IS NULL)`).Scan(&any); err != nil {
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
	var created int64
	err := db.read.QueryRowContext(ctx, `SELECT w.app_id, w.url, w.secret, w.created_at, d.title, d.version
		FROM documents d
		JOIN members m ON m.doc_id = d.id AND m.role = 'owner'
		JOIN apps a ON a.user_id = m.user_id AND a.revoked_at IS NULL
		JOIN webhooks w ON w.app_id = a.id
		WHERE d.id = ? ORDER BY a.created_at LIMIT 1`, docID).
		Scan(&h.AppID, &h.URL, &h.Secret, &created, &h.Title, &h.Version)
	if err != nil {
		return store.DocHook{}, fmt.Errorf("webhook of document %s: %w", docID, translate(err))
	}
	h.CreatedAt = fromMillis(created)
	return h, nil
}

// RecordDelivery implements store.Webhooks.
func (db *DB) RecordDelivery(ctx context.Context, d store.Delivery) error {
	if err := store.CheckKeys(d.AppID, d.DocID); err != nil {
		return fmt.Errorf("record delivery: %w", err)
	}
	if err := store.CheckText("delivery error", d.Error); err != nil {
		return fmt.Errorf("record delivery: %w", err)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (app_id, doc_id, version, attempt, status, error, at, duration_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, d.AppID, d.DocID, d.Version, d.Attempt, d.Status, d.Error, millis(d.At), d.DurationMS); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE app_id = ? AND id <=
			(SELECT id FROM webhook_deliveries WHERE app_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`, d.AppID, d.AppID, store.MaxDeliveries)
		return err
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
	rows, err := db.read.QueryContext(ctx, `SELECT id, app_id, doc_id, version, attempt, status, error, at, duration_ms
		FROM webhook_deliveries WHERE app_id = ? ORDER BY id DESC LIMIT ?`, appID, limit)
	if err != nil {
		return nil, fmt.Errorf("deliveries of app %s: %w", appID, translate(err))
	}
	out, err := collect(rows, func(row scanner) (store.Delivery, error) {
		var d store.Delivery
		var at int64
		err := row.Scan(&d.ID, &d.AppID, &d.DocID, &d.Version, &d.Attempt, &d.Status, &d.Error, &at, &d.DurationMS)
		d.At = fromMillis(at)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("deliveries of app %s: %w", appID, translate(err))
	}
	return out, nil
}
