-- +goose Up
-- The same as migrations/postgres/00002_invitations.sql, in SQLite's types.
CREATE TABLE invitations (
    doc_id     TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    invited_by TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (doc_id, email)
);
CREATE INDEX invitations_email_idx ON invitations (email);

-- +goose Down
DROP TABLE invitations;
