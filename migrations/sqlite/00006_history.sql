-- +goose Up
-- The same schema as migrations/postgres/00006_history.sql, times as
-- INTEGER Unix milliseconds.
-- History people can see (issue 18).
--
-- Named versions: a name a member gave one version of a document. user_id
-- records who saved it and, like operations.user_id, has no foreign key:
-- history outlives accounts. A document keeps at most
-- store.MaxNamedVersions of them.
CREATE TABLE named_versions (
    id         TEXT PRIMARY KEY,
    doc_id     TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    version    INTEGER NOT NULL CHECK (version >= 0),
    name       TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX named_versions_doc_idx ON named_versions (doc_id, created_at);

-- What happened in each complete chunk of store.ActivityChunk (100)
-- versions, per author: chunk c holds versions 100c+1 .. 100c+100. Derived
-- from operations and never changed; filled in order, on the first
-- timeline read that finds chunks missing.
CREATE TABLE history_chunks (
    doc_id        TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    chunk         INTEGER NOT NULL CHECK (chunk >= 0),
    user_id       TEXT NOT NULL,
    ops           INTEGER NOT NULL,
    first_version INTEGER NOT NULL,
    first_at      INTEGER NOT NULL,
    last_at       INTEGER NOT NULL,
    PRIMARY KEY (doc_id, chunk, user_id)
);

-- Who wrote each stretch of the text at a snapshot version (store.Blame,
-- encoded by store.EncodeSpans), written the first time a blame read
-- passes that version.
CREATE TABLE blame_checkpoints (
    doc_id  TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    version INTEGER NOT NULL CHECK (version >= 0),
    spans   TEXT NOT NULL,
    PRIMARY KEY (doc_id, version)
);

-- +goose Down
DROP TABLE blame_checkpoints;
DROP TABLE history_chunks;
DROP TABLE named_versions;
