-- +goose Up
-- History people can see (issue 18).
--
-- Named versions: a name a member gave one version of a document. user_id
-- records who saved it and, like operations.user_id, has no foreign key:
-- history outlives accounts. A document keeps at most
-- store.MaxNamedVersions of them.
CREATE TABLE named_versions (
    id         TEXT PRIMARY KEY,
    doc_id     TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    version    BIGINT NOT NULL CHECK (version >= 0),
    name       TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX named_versions_doc_idx ON named_versions (doc_id, created_at);

-- What happened in each complete chunk of store.ActivityChunk (100)
-- versions, per author: chunk c holds versions 100c+1 .. 100c+100. Derived
-- from operations and never changed, since history is never rewritten;
-- filled in order, on the first timeline read that finds chunks missing,
-- so that a timeline reads about one row per 100 versions.
CREATE TABLE history_chunks (
    doc_id        TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    chunk         BIGINT NOT NULL CHECK (chunk >= 0),
    user_id       TEXT NOT NULL,
    ops           BIGINT NOT NULL,
    first_version BIGINT NOT NULL,
    first_at      TIMESTAMPTZ NOT NULL,
    last_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (doc_id, chunk, user_id)
);

-- Who wrote each stretch of the text at a snapshot version (store.Blame,
-- encoded by store.EncodeSpans), written the first time a blame read
-- passes that version: a blame replays at most a snapshot interval of ops.
CREATE TABLE blame_checkpoints (
    doc_id  TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    version BIGINT NOT NULL CHECK (version >= 0),
    spans   TEXT NOT NULL,
    PRIMARY KEY (doc_id, version)
);

-- +goose Down
DROP TABLE blame_checkpoints;
DROP TABLE history_chunks;
DROP TABLE named_versions;
