-- +goose Up
-- The same schema as migrations/postgres/00001_init.sql, in SQLite's types.
-- Times are INTEGER Unix milliseconds (UTC).
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    email_key     TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    hash         BLOB NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

CREATE TABLE documents (
    id         TEXT PRIMARY KEY,
    title      TEXT NOT NULL,
    version    INTEGER NOT NULL DEFAULT 0 CHECK (version >= 0),
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE members (
    doc_id  TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    PRIMARY KEY (doc_id, user_id)
);
CREATE INDEX members_user_idx ON members (user_id);

CREATE TABLE operations (
    doc_id     TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    version    INTEGER NOT NULL CHECK (version > 0),
    op_id      TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    op         TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (doc_id, version),
    UNIQUE (doc_id, user_id, op_id)
);

CREATE TABLE snapshots (
    doc_id     TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    version    INTEGER NOT NULL CHECK (version >= 0),
    content    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (doc_id, version)
);

-- Browser sessions, in the shape scs/sqlite3store expects (expiry is a
-- julianday REAL).
CREATE TABLE sessions (
    token  TEXT PRIMARY KEY,
    data   BLOB NOT NULL,
    expiry REAL NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- +goose Down
DROP TABLE sessions;
DROP TABLE snapshots;
DROP TABLE operations;
DROP TABLE members;
DROP TABLE documents;
DROP TABLE api_tokens;
DROP TABLE users;
