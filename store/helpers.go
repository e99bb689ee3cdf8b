package store

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"tandem/ot"
)

// DefaultSnapshotEvery is how many operations lie between two snapshots of a
// document unless a store is told otherwise.
const DefaultSnapshotEvery = 100

// MaxOpIDLen bounds the length of a client-made operation id, in bytes.
const MaxOpIDLen = 64

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a fresh random id: 128 bits as 26 lowercase letters and digits,
// safe in URLs and unguessable.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand panics rather than return an error
	return idEncoding.EncodeToString(b[:])
}

// EmailKey is the form of an email address under which uniqueness is checked:
// trimmed and lower-cased, so that Ann@Example.com and ann@example.com are one.
func EmailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// CheckOpID validates a client-made operation id: 1 to MaxOpIDLen bytes of
// valid UTF-8 without control characters (Postgres text cannot hold NUL,
// and ids are echoed to clients and written to logs).
func CheckOpID(id string) error {
	if id == "" || len(id) > MaxOpIDLen {
		return fmt.Errorf("%w: operation id must be 1 to %d bytes", ErrInvalid, MaxOpIDLen)
	}
	if !utf8.ValidString(id) || strings.ContainsFunc(id, unicode.IsControl) {
		return fmt.Errorf("%w: operation id must be UTF-8 without control characters", ErrInvalid)
	}
	return nil
}

// ValidateName trims a display name, label or title and checks that it is
// 1 to maxLen code points of UTF-8 without control characters. Its errors
// are bad_request *Error values that name field.
func ValidateName(name, field string, maxLen int) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxLen {
		return "", Errorf(CodeBadRequest, "%s must be 1 to %d characters", field, maxLen)
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", Errorf(CodeBadRequest, "%s must not contain control characters", field)
	}
	return name, nil
}

// Storable reports whether s can be kept as text by every store: valid UTF-8
// without U+0000. Postgres text holds neither; SQLite would, and is held to
// the same rule so that the two stores behave alike.
func Storable(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// CheckKeys returns an error wrapping ErrNotFound if a key (an id or an
// email to look up) is not Storable: nothing stored can have it. Adapters
// call it before a key reaches the database, so that a driver's encoding
// error never stands for "not found".
func CheckKeys(keys ...string) error {
	for _, k := range keys {
		if !Storable(k) {
			return fmt.Errorf("%w: %q holds U+0000 or invalid UTF-8, so nothing has it", ErrNotFound, k)
		}
	}
	return nil
}

// CheckText returns an error wrapping ErrInvalid if text to be written is not
// Storable; what names the field.
func CheckText(what, text string) error {
	if !Storable(text) {
		return fmt.Errorf("%w: %s holds U+0000 or invalid UTF-8", ErrInvalid, what)
	}
	return nil
}

// CheckBatch validates a batch for AppendOps: not empty, every op id valid
// (CheckOpID) and unique for its author within the batch, every author id
// Storable and every op's inserted text valid document text (ot.CheckOp).
func CheckBatch(ops []NewOp) error {
	if len(ops) == 0 {
		return fmt.Errorf("%w: empty batch", ErrInvalid)
	}
	type key struct{ user, id string }
	seen := make(map[key]struct{}, len(ops))
	for _, op := range ops {
		if err := CheckOpID(op.ID); err != nil {
			return err
		}
		if err := CheckText("author id", op.UserID); err != nil {
			return err
		}
		if err := ot.CheckOp(op.Op); err != nil {
			return fmt.Errorf("%w: operation %q: %w", ErrInvalid, op.ID, err)
		}
		k := key{op.UserID, op.ID}
		if _, dup := seen[k]; dup {
			return fmt.Errorf("%w: operation id %q repeated in one batch", ErrInvalid, op.ID)
		}
		seen[k] = struct{}{}
	}
	return nil
}

// SnapshotsDue returns the versions in (head, head+n] that are multiples of
// every: where a batch of n operations appended at head must leave snapshots.
func SnapshotsDue(head int64, n int, every int64) []int64 {
	var due []int64
	for v := (head/every + 1) * every; v <= head+int64(n); v += every {
		due = append(due, v)
	}
	return due
}

// ReplayTo applies ops, which must follow snapshot's version without a gap,
// to the snapshot's text, and checks that they reach version (ErrNotFound if
// the history ends before it). An op that does not apply means the stored
// history is corrupt; that error wraps ErrInvalid.
func ReplayTo(snapshot Content, ops []OpRecord, version int64) (Content, error) {
	c := snapshot
	for _, rec := range ops {
		if rec.Version != c.Version+1 {
			return Content{}, fmt.Errorf("%w: history has a gap: version %d follows %d", ErrInvalid, rec.Version, c.Version)
		}
		text, err := ot.Apply(c.Text, rec.Op)
		if err != nil {
			return Content{}, fmt.Errorf("%w: version %d does not apply: %w", ErrInvalid, rec.Version, err)
		}
		c = Content{Version: rec.Version, Text: text, Replayed: c.Replayed + 1}
	}
	if c.Version != version {
		return Content{}, fmt.Errorf("%w: history ends at %d, before version %d", ErrNotFound, c.Version, version)
	}
	return c, nil
}

// MaxSubjectLen bounds an app user's subject (a JWT's sub).
const MaxSubjectLen = 255

// CheckNewApp returns an error wrapping ErrInvalid unless the app has a
// name and a secret, all storable.
func CheckNewApp(a NewApp) error {
	if a.Name == "" || a.Secret == "" {
		return fmt.Errorf("%w: an app needs a name and a secret", ErrInvalid)
	}
	return errors.Join(CheckText("app name", a.Name), CheckText("app secret", a.Secret), CheckText("public key", a.PublicKey))
}

// CheckAppUser returns an error wrapping ErrInvalid unless subject (1 to
// MaxSubjectLen bytes) and name are set and storable.
func CheckAppUser(subject, name string) error {
	if subject == "" || len(subject) > MaxSubjectLen || name == "" {
		return fmt.Errorf("%w: an app user needs a subject of 1 to %d bytes and a name", ErrInvalid, MaxSubjectLen)
	}
	return errors.Join(CheckText("subject", subject), CheckText("name", name))
}
