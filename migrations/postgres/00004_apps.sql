-- +goose Up
-- Host apps: other servers whose own users open Tandem documents with
-- short-lived JWTs the app signs (docs/security.md, "Host apps").
--
-- secret is the app's HS256 key, stored as is: verifying an HMAC needs the
-- key itself, so it cannot be hashed. Whoever reads this table can mint
-- tokens for every app: protect the database as the secret it holds.
-- public_key is an optional Ed25519 public key (base64 of 32 bytes) for
-- EdDSA tokens. user_id is the app's own account: it owns the documents the
-- app creates (members.role = 'owner'), and a token's grants never exceed
-- what that account may do. Revoked apps keep their row (revoked_at) so
-- that their documents keep an owner.
CREATE TABLE apps (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    secret     TEXT NOT NULL,
    public_key TEXT,
    user_id    TEXT NOT NULL UNIQUE REFERENCES users (id),
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);

-- An app's users, by the subject (sub) its tokens name: a Tandem account
-- each, made on first use, with no email and no password (users.email is
-- '' and email_key 'app-user:' and the user id, which no address can be).
CREATE TABLE app_users (
    app_id  TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (app_id, subject)
);

-- +goose Down
DROP TABLE app_users;
DROP TABLE apps;
