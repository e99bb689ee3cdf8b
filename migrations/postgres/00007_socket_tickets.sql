-- +goose Up
-- Socket tickets (docs/security.md, "Host apps"): a browser trades its
-- app's JWT for a ticket that opens one socket within seconds, on any node
-- of the cluster. key is a hash of the ticket; sealed is the JWT encrypted
-- under a key derived from the ticket, so a row opens nothing without the
-- ticket, which only the browser holds. Rows go when taken, or when a
-- later ticket finds them expired.
CREATE TABLE socket_tickets (
    key        TEXT PRIMARY KEY,
    sealed     BYTEA NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX socket_tickets_expires_idx ON socket_tickets (expires_at);

-- +goose Down
DROP TABLE socket_tickets;
