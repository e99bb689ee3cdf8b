// Package store holds Tandem's domain types and the storage interfaces that
// the server and the realtime engine use, and the error codes clients see
// (Code, Error). Implementations live in subpackages: store/postgres
// (production) and store/sqlite (the embedded default). Both pass the one
// conformance suite in store/storetest. store/httpapi turns the codes into
// HTTP responses.
//
// Methods return errors that callers test with errors.Is: ErrNotFound,
// ErrConflict, ErrDuplicate and ErrInvalid. Every method takes a context and
// stops when it is cancelled.
//
// No store keeps a string holding U+0000 or invalid UTF-8 (see Storable):
// a key (id or email) with one names nothing, so looking it up, or writing
// to what it would name, is ErrNotFound; text with one (a name, a title,
// content, inserted text) is ErrInvalid.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tandem/ot"
)

// Sentinel errors. Implementations wrap them with detail; test with errors.Is.
var (
	// ErrNotFound: the user, document, member, token or version does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the write lost a race or breaks a rule about existing data,
	// e.g. another writer took the version, the email is registered, or the
	// change would leave a document without an owner.
	ErrConflict = errors.New("conflict")
	// ErrDuplicate: the author's operation id is already stored for the
	// document. The error is a *DuplicateError that carries the stored version.
	ErrDuplicate = errors.New("duplicate operation")
	// ErrInvalid: an argument is malformed (an empty batch, a bad role, ...).
	ErrInvalid = errors.New("invalid argument")
)

// DuplicateError reports an operation id that the document already holds, and
// the version that operation was stored at, so that a re-sent edit can be
// acknowledged with its original version. errors.Is(err, ErrDuplicate) holds.
type DuplicateError struct {
	DocID   string
	UserID  string // the author of the stored op: ids are unique per author
	OpID    string
	Version int64
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("operation %q of document %s is already stored as version %d", e.OpID, e.DocID, e.Version)
}

// Is makes errors.Is(err, ErrDuplicate) true.
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicate }

// Store is everything the server needs from storage.
type Store interface {
	Users
	Tokens
	Documents
	Members
	Invitations
	History
	Apps
	Webhooks
	NamedVersions
	Timelines

	// Ping checks that the storage is reachable.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// Users are accounts.
type Users interface {
	// CreateUser stores a new user with a fresh id. Emails are unique without
	// regard to case: ErrConflict if the email is taken.
	CreateUser(ctx context.Context, u NewUser) (User, error)
	// User returns the user with id, or ErrNotFound.
	User(ctx context.Context, id string) (User, error)
	// UserByEmail returns the user with email in any case, or ErrNotFound.
	UserByEmail(ctx context.Context, email string) (User, error)
	// ListUsers returns every user, oldest first.
	ListUsers(ctx context.Context) ([]User, error)
	// SetPasswordHash replaces a user's password hash; ErrNotFound if no user.
	SetPasswordHash(ctx context.Context, id, hash string) error
	// UserNames returns the names of the users with the given ids, in one
	// read; ids with no account (or not Storable) are left out of the map.
	UserNames(ctx context.Context, ids []string) (map[string]string, error)
}

// Tokens are API tokens for programs. Only a hash of each secret is stored.
type Tokens interface {
	// CreateToken stores a token for a user; ErrNotFound if no such user,
	// ErrConflict if the hash is already in use.
	CreateToken(ctx context.Context, t NewToken) (Token, error)
	// TokenByHash returns the token with this secret hash; ErrNotFound if
	// there is none. It only reads: it is on every bearer request's path,
	// and must keep working while the store cannot write (a full disk).
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// RecordTokenUses sets each token's last use, from a map of token id to
	// time, in one statement: a time older than the one stored is ignored,
	// and so is the id of a token that is gone. Callers batch uses and call
	// it off the request path.
	RecordTokenUses(ctx context.Context, uses map[string]time.Time) error
	// ListTokens returns a user's tokens, oldest first.
	ListTokens(ctx context.Context, userID string) ([]Token, error)
	// DeleteToken revokes a user's token; ErrNotFound if the user has no token
	// with that id.
	DeleteToken(ctx context.Context, userID, id string) error
}

// Documents are the editable texts. Deleting one is a hard delete: its
// members, invitations, operations and snapshots go with it.
type Documents interface {
	// CreateDocument stores a document at version 0 with content as its first
	// snapshot and the owner as its only member; ErrNotFound if no such user,
	// ErrInvalid if content is not valid document text.
	CreateDocument(ctx context.Context, d NewDocument) (Document, error)
	// Document returns a document's metadata; ErrNotFound if none.
	Document(ctx context.Context, id string) (Document, error)
	// ListDocuments returns the documents a user is a member of, with the
	// user's role, most recently updated first.
	ListDocuments(ctx context.Context, userID string) ([]DocumentAccess, error)
	// RenameDocument sets the title; ErrNotFound if no such document.
	RenameDocument(ctx context.Context, id, title string) (Document, error)
	// DeleteDocument removes a document and all it holds; ErrNotFound if none.
	DeleteDocument(ctx context.Context, id string) error
}

// Members say who may do what with a document.
type Members interface {
	// Role returns a user's role on a document; ErrNotFound if the user is not
	// a member or the document does not exist.
	Role(ctx context.Context, docID, userID string) (Role, error)
	// ListMembers returns a document's members with their names and emails,
	// owners first; ErrNotFound if no such document.
	ListMembers(ctx context.Context, docID string) ([]Member, error)
	// SetMember adds a member or changes a member's role. ErrNotFound if the
	// document or user does not exist, ErrInvalid for an unknown role,
	// ErrConflict if it would demote the document's last owner.
	SetMember(ctx context.Context, docID, userID string, role Role) error
	// RemoveMember removes a member. ErrNotFound if not a member, ErrConflict
	// if it is the document's last owner.
	RemoveMember(ctx context.Context, docID, userID string) error
}

// Invitations are offers of a role on a document to an email address, which
// the person with that email accepts or declines. Sharing goes through them
// so that nobody becomes a member of a document without saying yes, and so
// that sharing does not tell whether an email has an account. Emails are
// compared, and stored, by their EmailKey.
type Invitations interface {
	// Invite offers inv.Role on a document to inv.Email. If a user with that
	// email is a member of the document already, their role is changed
	// instead, as SetMember does, and returned in Shared.Member; otherwise
	// the invitation is stored, replacing an earlier one to that email, and
	// returned in Shared.Invitation. Whether the email has an account makes
	// no difference to the work done. ErrNotFound if no such document,
	// ErrInvalid for an unknown role, ErrConflict if it would demote the
	// document's last owner.
	Invite(ctx context.Context, inv NewInvitation) (Shared, error)
	// ListInvitations returns a document's pending invitations, oldest
	// first; ErrNotFound if no such document.
	ListInvitations(ctx context.Context, docID string) ([]Invitation, error)
	// RevokeInvitation withdraws the invitation to email (in any case) from
	// a document; ErrNotFound if there is none.
	RevokeInvitation(ctx context.Context, docID, email string) error
	// InvitationsFor returns the invitations to a user's email address, with
	// the documents' titles and who invited, newest first.
	InvitationsFor(ctx context.Context, userID string) ([]PendingInvitation, error)
	// AcceptInvitation makes the user a member of the document, with the
	// role offered to their email, and removes the invitation, in one
	// transaction; it returns the user's role (a member already keeps the
	// role they have). ErrNotFound if there is no such invitation.
	AcceptInvitation(ctx context.Context, docID, userID string) (Role, error)
	// DeclineInvitation removes the invitation to the user's email from the
	// document; ErrNotFound if there is none.
	DeclineInvitation(ctx context.Context, docID, userID string) error
}

// History is a document's operations and snapshots: what the sequencer
// writes and what loading and catch-up read.
type History interface {
	// AppendOps stores ops as versions head+1, head+2, ... of a document in
	// one transaction, if and only if the document's version is head. All or
	// none are stored:
	//   - ErrConflict if the document's version is not head (another writer
	//     took it);
	//   - a *DuplicateError (ErrDuplicate) if an op's id is already stored for
	//     its author (ids are unique per document and author), with the
	//     version it was stored at;
	//   - ErrNotFound if there is no such document;
	//   - ErrInvalid for an empty batch, a repeated or empty op id, or an op
	//     that does not apply (when a snapshot is computed).
	// Whenever the batch reaches a multiple of the store's snapshot interval,
	// the content at that version is saved as a snapshot in the same
	// transaction.
	AppendOps(ctx context.Context, docID string, head int64, ops []NewOp) error
	// Ops returns the document's operations with from <= version <= to, in
	// order, as many as page allows. ErrNotFound if there is no such
	// document.
	Ops(ctx context.Context, docID string, from, to int64, page Page) ([]OpRecord, error)
	// ContentAt returns the document's text at version, built from the
	// nearest snapshot at or before it plus at most the snapshot interval of
	// operations. ErrNotFound if there is no such document or version.
	ContentAt(ctx context.Context, docID string, version int64) (Content, error)
	// OpVersion returns the version at which the user's operation with id
	// is stored in the document; ErrNotFound if it is not.
	OpVersion(ctx context.Context, docID, userID, id string) (int64, error)
	// Load returns a document's metadata and its text at its current version,
	// read in one consistent view; ErrNotFound if none.
	Load(ctx context.Context, docID string) (Document, Content, error)
}

// Page bounds one read of history, so that no read holds more than it
// should in memory however large the operations are.
type Page struct {
	// Limit is the most operations returned; 0 means no limit.
	Limit int
	// MaxBytes stops the page after the operation that brings the stored
	// size (bytes of wire form) to MaxBytes or more: an operation is
	// returned while those before it in the page total less. The first one
	// always is, whatever its size, so that paging moves on. 0: no limit.
	MaxBytes int
}

// Role is what a member may do with a document.
type Role string

// The roles, from most to least powerful.
const (
	RoleOwner  Role = "owner"  // edits, manages members, renames and deletes
	RoleEditor Role = "editor" // edits
	RoleViewer Role = "viewer" // reads, and is seen in presence
)

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return r == RoleOwner || r == RoleEditor || r == RoleViewer }

// CanEdit reports whether r may change the text.
func (r Role) CanEdit() bool { return r == RoleOwner || r == RoleEditor }

// CanManage reports whether r may rename, delete and share the document.
func (r Role) CanManage() bool { return r == RoleOwner }

// User is an account.
type User struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
}

// NewUser is what CreateUser needs.
type NewUser struct {
	Email        string
	Name         string
	PasswordHash string
}

// Token is an API token's record; the secret itself is never stored.
type Token struct {
	ID         string     `json:"id"`
	UserID     string     `json:"user_id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// NewToken is what CreateToken needs. Hash is a digest of the secret.
type NewToken struct {
	UserID string
	Name   string
	Hash   []byte
}

// Document is a document's metadata. Version counts the operations applied.
type Document struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Version   int64     `json:"version"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NewDocument is what CreateDocument needs.
type NewDocument struct {
	// ID is the document's id; empty: a fresh one. ErrConflict if taken.
	ID      string
	OwnerID string
	Title   string
	Content string
}

// DocumentAccess is a document as one user sees it in a listing.
type DocumentAccess struct {
	Document
	Role Role `json:"role"`
}

// Member is a user's role on a document.
type Member struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	Name   string `json:"name"`
	Role   Role   `json:"role"`
}

// Invitation is a pending offer of a role on a document to an email
// address (its EmailKey).
type Invitation struct {
	DocID     string    `json:"-"`
	Email     string    `json:"email"`
	Role      Role      `json:"role"`
	InvitedBy string    `json:"invited_by"` // a user id
	CreatedAt time.Time `json:"created_at"`
}

// NewInvitation is what Invite needs.
type NewInvitation struct {
	DocID     string
	Email     string
	Role      Role
	InvitedBy string
}

// Shared is what Invite did: changed a member's role (Member) or stored an
// invitation (Invitation). Exactly one is set.
type Shared struct {
	Member     *Member
	Invitation *Invitation
}

// PendingInvitation is an invitation as the invited person sees it.
type PendingInvitation struct {
	DocID        string    `json:"doc_id"`
	Title        string    `json:"title"`
	Role         Role      `json:"role"`
	InviterName  string    `json:"inviter_name"`
	InviterEmail string    `json:"inviter_email"`
	CreatedAt    time.Time `json:"created_at"`
}

// NewOp is an operation the sequencer has placed and is about to store.
type NewOp struct {
	ID     string // made by the client; unique per document and author
	UserID string // the author
	Op     ot.Op
	// After is, optionally, the document's text after this op, from a
	// writer that has it at hand (a room's sequencer). A store due to
	// snapshot this version may write it rather than read the history
	// back. It must be exact; nil when unknown.
	After *string
}

// OpRecord is a stored operation: the op that turned version-1 into version.
type OpRecord struct {
	Version int64     `json:"version"`
	ID      string    `json:"id"`
	UserID  string    `json:"user"`
	Op      ot.Op     `json:"op"`
	Time    time.Time `json:"time"`
}

// Content is a document's text at a version.
type Content struct {
	Version int64
	Text    string
	// Replayed is how many operations were applied to the nearest snapshot
	// to build Text; never more than the snapshot interval.
	Replayed int
}
