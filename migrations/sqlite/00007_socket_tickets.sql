-- +goose Up
-- The same schema as migrations/postgres/00007_socket_tickets.sql, times
-- as INTEGER Unix milliseconds.
CREATE TABLE socket_tickets (
    key        TEXT PRIMARY KEY,
    sealed     BLOB NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX socket_tickets_expires_idx ON socket_tickets (expires_at);

-- +goose Down
DROP TABLE socket_tickets;
