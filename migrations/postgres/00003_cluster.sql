-- +goose Up
-- Several tandem serve processes on one database. Each registers itself in
-- nodes (how the others reach it, and when it was last heard from); a
-- document is sequenced by the one node that holds its lease. Leases are
-- taken, renewed and compared on the database's clock, never a node's own.
-- epoch grows by one each time a lease changes hands (or is taken again
-- after it lapsed): an append names the epoch it was accepted under and is
-- refused if the lease has moved on, so a paused or cut-off owner cannot
-- write even a version nobody else has.
CREATE TABLE nodes (
    node_id      TEXT PRIMARY KEY,
    url          TEXT NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE doc_leases (
    doc_id     TEXT PRIMARY KEY REFERENCES documents (id) ON DELETE CASCADE,
    node_id    TEXT NOT NULL,
    epoch      BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX doc_leases_node_idx ON doc_leases (node_id);

-- +goose Down
DROP TABLE doc_leases;
DROP TABLE nodes;
