-- +goose Up
-- Pending offers of a role on a document, to an email address. Sharing
-- never makes anyone a member directly: the person accepts (or declines)
-- first, so nobody is added to a stranger's document without asking, and
-- the answer to a share does not tell whether the email has an account.
-- email is the store's email key (trimmed, lower-cased), matched against
-- users.email_key when the invited person lists or accepts invitations.
CREATE TABLE invitations (
    doc_id     TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    email      TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'viewer')),
    invited_by TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (doc_id, email)
);
CREATE INDEX invitations_email_idx ON invitations (email);

-- +goose Down
DROP TABLE invitations;
