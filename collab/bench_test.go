package collab

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"tandem/ot"
	"tandem/store"
)

// BenchmarkRoom measures ops/s through one room: up to 4 writers in a
// closed loop (each sends its next op when the last is acked), with 1, 10
// and 100 subscribers receiving every op, with the store in the loop.
//
//	go test ./collab -run '^$' -bench Room -benchtime 3s
func BenchmarkRoom(b *testing.B) {
	for _, kind := range backends {
		for _, subs := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("%s/subscribers=%d", kind, subs), func(b *testing.B) { benchRoom(b, kind, subs) })
		}
	}
}

func benchRoom(b *testing.B, kind string, subs int) {
	st, _ := openStore(b, kind)
	h, err := NewHub(st, DefaultConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Close(ctx)
	})
	ctx := context.Background()
	_, d := storeDoc(b, st)
	r, err := h.room(d.ID)
	if err != nil {
		b.Fatal(err)
	}
	writers := min(subs, 4)
	conns := make([]*Conn, subs)
	ackCh := make([]chan int64, subs)
	for i := range conns {
		u, err := st.CreateUser(ctx, store.NewUser{Email: fmt.Sprintf("u%d@example.com", i), Name: "u", PasswordHash: "x"})
		if err != nil {
			b.Fatal(err)
		}
		if err := st.SetMember(ctx, d.ID, u.ID, store.RoleEditor); err != nil {
			b.Fatal(err)
		}
		conns[i], ackCh[i] = benchConn(h, u.ID)
		reply := make(chan error, 1)
		r.post(joinReq{c: conns[i], version: -1, reply: reply})
		if err := <-reply; err != nil {
			b.Fatal(err)
		}
	}
	// Every op inserts one character at the start of the document (so the
	// document at version v has v characters), made against the latest
	// version its writer knows: the room transforms it over the few ops the
	// other writers landed meanwhile.
	var version sync.Mutex
	known := int64(0)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := (b.N + writers - 1) / writers
	for w := range writers {
		wg.Go(func() {
			for i := range per {
				version.Lock()
				base := known
				version.Unlock()
				op := ot.Insertion(int(base), 0, "x")
				r.post(submitReq{from: conns[w], user: conns[w].user.ID, base: base, id: fmt.Sprintf("w%d-%d", w, i), op: op, received: time.Now()})
				acked := <-ackCh[w]
				version.Lock()
				known = max(known, acked)
				version.Unlock()
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(per*writers)/time.Since(start).Seconds(), "ops/s")
}
