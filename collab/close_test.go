package collab

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"tandem/ot"
	"tandem/store"
)

// hangingStore is a real store whose appends hang until their context ends.
type hangingStore struct {
	store.Store
	entered  chan struct{} // an append has started
	returned chan error    // what it returned
}

func (h *hangingStore) AppendOps(ctx context.Context, docID string, head int64, ops []store.NewOp) error {
	h.entered <- struct{}{}
	<-ctx.Done()
	h.returned <- ctx.Err()
	return ctx.Err()
}

// TestCloseEndsHungCommit: when the rooms do not drain in time, Hub.Close
// cancels the store calls they are waiting on, so that a hung commit ends
// (its room fails, nothing is acknowledged) instead of outliving the hub.
func TestCloseEndsHungCommit(t *testing.T) {
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) {
			st, _ := openStore(t, kind)
			ctx := context.Background()
			u, d := storeDoc(t, st)
			hung := &hangingStore{Store: st, entered: make(chan struct{}, 1), returned: make(chan error, 1)}
			hub, err := NewHub(hung, testEngine(), slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			submitted := make(chan error, 1)
			go func() {
				_, err := hub.Submit(ctx, d.ID, u.ID, 0, "o1", ot.Insertion(0, 0, "x"))
				submitted <- err
			}()
			select {
			case <-hung.entered:
			case <-time.After(10 * time.Second):
				t.Fatal("the commit never started")
			}
			closeCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			if err := hub.Close(closeCtx); err == nil {
				t.Error("Close reported a clean drain with a commit hung")
			}
			select {
			case err := <-hung.returned:
				if err == nil {
					t.Error("the hung append returned without an error")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the hung append was not cancelled by Close")
			}
			select {
			case err := <-submitted:
				if code, _ := store.ErrorCode(err); code != store.CodeUnavailable {
					t.Errorf("the submit waiting on the hung commit got %v, want unavailable", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the submit waiting on the hung commit never returned")
			}
		})
	}
}
