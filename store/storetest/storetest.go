// Package storetest is the conformance suite every store.Store must pass.
// An implementation's test calls Run with a function that opens a fresh,
// migrated, empty store; the suite's subtests are the contract that makes the
// embedded and the Postgres store behave alike.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"tandem/ot"
	"tandem/store"
)

// Opener returns a fresh, empty, migrated store that takes a snapshot every
// snapshotEvery operations, and closes it when the test ends.
type Opener func(tb testing.TB, snapshotEvery int) store.Store

// Run runs the whole suite against the stores that open makes.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"Users", testUsers},
		{"Tokens", testTokens},
		{"Documents", testDocuments},
		{"Members", testMembers},
		{"Invitations", testInvitations},
		{"Apps", testApps},
		{"Tickets", testTickets},
		{"Webhooks", testWebhooks},
		{"AppendAndRead", testAppendAndRead},
		{"AppendErrors", testAppendErrors},
		{"Duplicate", testDuplicate},
		{"Snapshots", testSnapshots},
		{"Race", testRace},
		{"ManyDocuments", testManyDocuments},
		{"Cancelled", testCancelled},
		{"BadStrings", testBadStrings},
		{"NamedVersions", testNamedVersions},
		{"UserNames", testUserNames},
		{"Timeline", testTimeline},
		{"Blame", testBlame},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

// wantErr fails unless errors.Is(err, want).
func wantErr(tb testing.TB, err, want error, what string) {
	tb.Helper()
	if !errors.Is(err, want) {
		tb.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

// must fails the test on err.
func must(tb testing.TB, err error, what string) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
}

func mustUser(tb testing.TB, s store.Store, email string) store.User {
	tb.Helper()
	u, err := s.CreateUser(context.Background(), store.NewUser{Email: email, Name: "User " + email, PasswordHash: "hash-of-" + email})
	must(tb, err, "create user")
	return u
}

func mustDoc(tb testing.TB, s store.Store, owner store.User, content string) store.Document {
	tb.Helper()
	d, err := s.CreateDocument(context.Background(), store.NewDocument{OwnerID: owner.ID, Title: "Notes", Content: content})
	must(tb, err, "create document")
	return d
}

// typed is what typing types: one-, two- and four-byte characters and newlines.
var typed = []string{"a", "b", "c", "é", "😀", "\n"}

// typing returns n single-op batches that each insert one character at the
// end of text, with op ids prefix-1, prefix-2, ...
func typing(text string, n int, prefix, userID string) (string, [][]store.NewOp) {
	var batches [][]store.NewOp
	runes := len([]rune(text))
	for i := range n {
		ch := typed[i%len(typed)]
		op := ot.Insertion(runes, runes, ch)
		text += ch
		runes++
		batches = append(batches, []store.NewOp{{ID: fmt.Sprintf("%s-%d", prefix, i+1), UserID: userID, Op: op}})
	}
	return text, batches
}

func sameTime(a, b time.Time) bool { return a.Sub(b).Abs() < time.Millisecond }
