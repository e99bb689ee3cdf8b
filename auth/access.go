package auth

import (
	"context"
	"errors"
	"fmt"

	"tandem/store"
)

// Need is what a caller wants to do with a document.
type Need int

// The needs, from least to most.
const (
	NeedRead   Need = iota // see the text, history and members; join
	NeedEdit               // change the text
	NeedManage             // rename, delete, share
)

func (n Need) String() string {
	switch n {
	case NeedRead:
		return "read"
	case NeedEdit:
		return "edit"
	default:
		return "manage"
	}
}

// Authorize returns userID's role on the document if it allows need. This is
// the one permission check that REST and the socket share. A stranger (or a
// missing document) gets not_found, so documents cannot be probed; a member
// whose role is too weak gets forbidden.
func Authorize(ctx context.Context, members store.Members, docID, userID string, need Need) (store.Role, error) {
	if !store.Storable(docID) {
		return "", store.Errorf(store.CodeNotFound, "no document %q", docID)
	}
	role, err := members.Role(ctx, docID, userID)
	if errors.Is(err, store.ErrNotFound) {
		return "", store.Errorf(store.CodeNotFound, "no document %s", docID)
	}
	if err != nil {
		return "", fmt.Errorf("authorize: %w", err)
	}
	if !Allows(role, need) {
		return role, store.Errorf(store.CodeForbidden, "a %s may not %s this document", role, need)
	}
	return role, nil
}

// Allows reports whether role permits need.
func Allows(role store.Role, need Need) bool {
	switch need {
	case NeedRead:
		return role.Valid()
	case NeedEdit:
		return role.CanEdit()
	default:
		return role.CanManage()
	}
}
