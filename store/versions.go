package store

import (
	"context"
	"time"
)

// NamedVersions are names that members give versions of a document
// ("Save this version as…"), so that they can find them again.
type NamedVersions interface {
	// SaveVersion names a version of a document, with a fresh id. It
	// returns ErrNotFound if there is no such document, ErrInvalid if the
	// version is negative or past the document's version or the name is not
	// Storable, and ErrConflict if the document has MaxNamedVersions
	// already.
	SaveVersion(ctx context.Context, nv NewNamedVersion) (NamedVersion, error)
	// NamedVersions returns a document's named versions, newest first;
	// ErrNotFound if there is no such document.
	NamedVersions(ctx context.Context, docID string) ([]NamedVersion, error)
	// NamedVersion returns one of a document's named versions; ErrNotFound
	// if the document has none with that id.
	NamedVersion(ctx context.Context, docID, id string) (NamedVersion, error)
	// DeleteNamedVersion removes one of a document's named versions;
	// ErrNotFound if the document has none with that id.
	DeleteNamedVersion(ctx context.Context, docID, id string) error
}

// MaxNamedVersions is how many named versions one document may keep.
const MaxNamedVersions = 1000

// NamedVersion is a version of a document that someone gave a name.
// UserName is the saver's name, "" if the account is gone.
type NamedVersion struct {
	ID        string
	DocID     string
	Version   int64
	Name      string
	UserID    string
	UserName  string
	CreatedAt time.Time
}

// NewNamedVersion is what SaveVersion needs.
type NewNamedVersion struct {
	DocID   string
	Version int64
	Name    string
	UserID  string
}
