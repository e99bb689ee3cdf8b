package collab

import (
	"strings"
	"testing"

	"tandem/ot"
)

// TestWriteBudget: one user's ops over a socket spend a budget of bytes per
// minute (every op is stored for good); past it an op is refused with
// rate_limited and the document is unchanged.
func TestWriteBudget(t *testing.T) {
	cfg := testEngine()
	cfg.WriteBytesPerMin = 100 << 10
	forEachBackend(t, cfg, func(t *testing.T, env *env) {
		ann, doc, s := env.solo("")
		s.join(doc, -1)
		chunk := strings.Repeat("y", 60<<10)
		s.send(opMessage(doc, 0, "a1", ot.Insertion(0, 0, chunk)))
		if m := s.next("ack", "error"); m["type"] != "ack" {
			t.Fatalf("first 60 KB op: %v", m)
		}
		s.send(opMessage(doc, 1, "a2", ot.Insertion(len(chunk), len(chunk), chunk)))
		wantError(t, s, "rate_limited", "second 60 KB op with a budget of 100 KB a minute")
		if text, v := ann.content(doc); v != 1 || len(text) != len(chunk) {
			t.Errorf("after the refusal the document is at version %d with %d bytes", v, len(text))
		}
		// Small edits of another user are not affected.
		bob := env.signup("bob@example.com")
		doc2 := bob.createDoc("")
		b := bob.dial()
		b.join(doc2, -1)
		b.send(opMessage(doc2, 0, "b1", ot.Insertion(0, 0, "hi")))
		if m := b.next("ack", "error"); m["type"] != "ack" {
			t.Errorf("another user's op: %v", m)
		}
	})
}
