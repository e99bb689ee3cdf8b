package collab

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"tandem/ot"
	"tandem/store"
)

// alphabet has one- to four-byte characters, a combining mark and a ZWJ.
var alphabet = []string{"a", "b", " ", "\n", "é", "ß", "中", "😀", "👍🏽", "e\u0301", "\u200d", "🎉"}

func randomEdit(r *rand.Rand, text string) ot.Op {
	n := utf8.RuneCountInString(text)
	pos := r.IntN(n + 1)
	if n > 0 && r.IntN(3) == 0 {
		pos = min(pos, n-1)
		return ot.Deletion(n, pos, 1+r.IntN(min(4, n-pos)))
	}
	var ins strings.Builder
	for range 1 + r.IntN(3) {
		ins.WriteString(alphabet[r.IntN(len(alphabet))])
	}
	return ot.Insertion(n, pos, ins.String())
}

// pump handles every message already received.
func (e *editor) pump() {
	for e.err == nil {
		select {
		case m := <-e.s.msgs:
			e.handle(m)
		default:
			return
		}
	}
}

// settle handles messages until the editor has nothing pending and has
// reached version (or has failed: see check).
func (e *editor) settle(version int64) {
	deadline := time.After(30 * time.Second)
	for e.err == nil && (!e.synced() || e.st.Version() < version) {
		select {
		case m := <-e.s.msgs:
			e.handle(m)
		case <-deadline:
			e.failf("not settled at %d: version %d, outstanding %v", version, e.st.Version(), e.st.Outstanding())
		}
	}
}

// TestConvergence: 8 editors each make 200 random edits with random delays,
// running the client state machine; at the end every editor's text is the
// server's, and every acknowledged op is stored exactly once.
func TestConvergence(t *testing.T) {
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) {
			const editors, edits = 8, 200
			env := newEnv(t, kind, testEngine())
			owner := env.signup("owner@example.com")
			doc := owner.createDoc("start 😀\n")
			eds := make([]*editor, editors)
			for i := range eds {
				u := env.signup(fmt.Sprintf("e%d@example.com", i))
				owner.share(doc, u, store.RoleEditor)
				s := u.dial()
				eds[i] = newEditor(t, s, doc, fmt.Sprintf("e%d", i), s.join(doc, -1))
				eds[i].history = env.history(doc)
			}
			var wg sync.WaitGroup
			for i, e := range eds {
				// Each editor in a goroutine of its own: failures are
				// recorded in e.err, reported below by the test goroutine.
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(i), 42))
					for range edits {
						if e.err != nil {
							return
						}
						e.pump()
						e.edit(randomEdit(r, e.st.Text()))
						time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
					}
					e.settle(0)
				})
			}
			wg.Wait()
			for _, e := range eds {
				if e.err != nil {
					t.Error(e.err)
				}
			}
			if t.Failed() {
				return
			}
			text, head := owner.content(doc)
			for _, e := range eds {
				e.settle(head)
				e.check()
				if e.st.Text() != text {
					t.Errorf("%s diverged:\n got %q\nwant %q", e.name, e.st.Text(), text)
				}
			}
			recs, err := env.st.Ops(context.Background(), doc, 1, head, store.Page{})
			if err != nil {
				t.Fatal(err)
			}
			stored := map[string]int64{}
			for _, rec := range recs {
				if _, dup := stored[rec.ID]; dup {
					t.Errorf("op %s stored twice", rec.ID)
				}
				stored[rec.ID] = rec.Version
			}
			acked := 0
			for _, e := range eds {
				for id, v := range e.acked {
					acked++
					if stored[id] != v {
						t.Errorf("op %s acked as version %d, stored as %d", id, v, stored[id])
					}
				}
			}
			if int64(acked) != head || len(recs) != acked {
				t.Errorf("%d ops acked, %d stored, head %d", acked, len(recs), head)
			}
			t.Logf("%d editors converged on %d ops, %d code points", editors, head, utf8.RuneCountInString(text))
		})
	}
}
