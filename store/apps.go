package store

import (
	"context"
	"time"
)

// Apps are host apps: servers with their own users, who open documents
// with JWTs the app signs. Each app has an account of its own (App.UserID),
// which owns the documents the app creates, and an account per subject its
// tokens name (AppUser).
type Apps interface {
	// CreateApp stores an app with a fresh id and makes its account (named
	// after the app, with no email and no password), in one transaction.
	// ErrInvalid for an empty name or secret.
	CreateApp(ctx context.Context, a NewApp) (App, error)
	// ListApps returns every app, revoked ones too, oldest first.
	ListApps(ctx context.Context) ([]App, error)
	// App returns the app with id; ErrNotFound if there is none or it is
	// revoked. It only reads.
	App(ctx context.Context, id string) (App, error)
	// RevokeApp marks an app revoked: App no longer finds it. Its documents
	// and accounts stay. ErrNotFound if there is no such app, or it is
	// revoked already.
	RevokeApp(ctx context.Context, id string) error
	// AppUser returns the account of the app's user subject, making it on
	// first use with name, and renaming it when name has changed. ErrNotFound
	// if the app does not exist; ErrInvalid for an empty subject or name.
	AppUser(ctx context.Context, appID, subject, name string) (User, error)
	// PutTicket stores a socket ticket until expires: key names it (a hash
	// of the ticket, never the ticket), sealed is what it opens. Expired
	// tickets are deleted along the way. ErrInvalid for an empty key or
	// sealed; ErrConflict if key is taken.
	PutTicket(ctx context.Context, key string, sealed []byte, expires time.Time) error
	// TakeTicket deletes the ticket key and returns what it opens, so that
	// it opens once, on whichever node asks first; ErrNotFound if there is
	// none or it expired before now.
	TakeTicket(ctx context.Context, key string, now time.Time) ([]byte, error)
}

// App is a registered host app. Secret is its HS256 key (stored as is: an
// HMAC cannot be checked against a hash); PublicKey, if set, is an Ed25519
// public key, base64 of its 32 bytes, for EdDSA tokens.
type App struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Secret    string     `json:"-"`
	PublicKey string     `json:"public_key,omitempty"`
	UserID    string     `json:"user_id"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// NewApp is what CreateApp needs.
type NewApp struct {
	Name      string
	Secret    string
	PublicKey string // optional
}

// AppAccountKey is the email key of an app's own account, and
// AppUserKey that of one of its users': neither holds '@', so no address
// can be one, and neither can be signed in to (they have no password).
func AppAccountKey(appID string) string { return "app:" + appID }

// AppUserKey is the email key of an app user's account (see AppAccountKey).
func AppUserKey(userID string) string { return "app-user:" + userID }

// NoPassword is the password hash of accounts that cannot sign in: it is
// no argon2id hash, so it verifies no password.
const NoPassword = "!"
