-- +goose Up
-- Accounts. email_key is the trimmed, lower-cased email: unique without regard
-- to case, while email keeps what the user typed.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    email_key     TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

-- API tokens: only a digest of the secret is stored.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    hash         BYTEA NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

-- Documents. version is the head: the number of operations applied. It is
-- the compare-and-swap that admits one writer per version; the primary key of
-- operations is the fence behind it.
CREATE TABLE documents (
    id         TEXT PRIMARY KEY,
    title      TEXT NOT NULL,
    version    BIGINT NOT NULL DEFAULT 0 CHECK (version >= 0),
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE members (
    doc_id  TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    PRIMARY KEY (doc_id, user_id)
);
CREATE INDEX members_user_idx ON members (user_id);

-- The history. op is the ot wire form. user_id records the author and has
-- no foreign key: history outlives accounts, and the append path stays lean.
-- Op ids are made by clients, so they are unique per author: one user's ids
-- can never collide with another's.
CREATE TABLE operations (
    doc_id     TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    version    BIGINT NOT NULL CHECK (version > 0),
    op_id      TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    op         TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (doc_id, version),
    UNIQUE (doc_id, user_id, op_id)
);

-- Content at a version: at version 0 and at every multiple of the snapshot
-- interval, so loading replays fewer operations than the interval.
CREATE TABLE snapshots (
    doc_id     TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    version    BIGINT NOT NULL CHECK (version >= 0),
    content    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (doc_id, version)
);

-- Browser sessions, in the shape scs/pgxstore expects.
CREATE TABLE sessions (
    token  TEXT PRIMARY KEY,
    data   BYTEA NOT NULL,
    expiry TIMESTAMPTZ NOT NULL
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
