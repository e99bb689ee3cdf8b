-- +goose Up
-- The same schema as migrations/postgres/00005_webhooks.sql, times as
-- INTEGER Unix milliseconds.
-- Webhooks of host apps (docs/security.md, "Webhooks"): Tandem POSTs
-- {doc, version, title} to an app's URL when one of its documents changes,
-- signed with HMAC-SHA256 under secret. The secret is the webhook's own,
-- not the app's token key, and is stored as is (an HMAC needs the key).
CREATE TABLE webhooks (
    app_id     TEXT PRIMARY KEY REFERENCES apps (id) ON DELETE CASCADE,
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- The delivery log: one row per attempt, the last few hundred per app
-- (store.MaxDeliveries; older ones are pruned as new ones are written).
-- status is the receiver's HTTP status, 0 when there was none (error says
-- why).
CREATE TABLE webhook_deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id      TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    doc_id      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    status      INTEGER NOT NULL,
    error       TEXT NOT NULL,
    at          INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_app_idx ON webhook_deliveries (app_id, id);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
