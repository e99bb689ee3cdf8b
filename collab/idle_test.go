package collab

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkIdleSocket measures what an idle socket costs the server: heap
// and goroutine stacks in use after a GC, per socket, with n sockets open
// and each joined to one of n/100 documents (as tandem-bench's idle
// sockets are). The clients are bare TCP connections of this process
// (a few hundred bytes each, counted too): no goroutine, no buffers.
//
//	go test ./collab -run '^$' -bench IdleSocket -benchtime 1x
func BenchmarkIdleSocket(b *testing.B) {
	for _, n := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) { benchIdle(b, n) })
	}
}

func benchIdle(b *testing.B, n int) {
	if os.Getenv("IDLE_HEAP_PROFILE") != "" {
		defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
		runtime.MemProfileRate = 1 // every allocation
	}
	cfg := testEngine()
	cfg.PingInterval = time.Hour // the bare clients do not answer pings
	cfg.ConnsPerUser = 2 * n
	e := newEnv(b, "sqlite", cfg)
	ann := e.signup("ann@example.com")
	docs := make([]string, max(1, n/100))
	for i := range docs {
		docs[i] = ann.createDoc("")
	}
	u, _ := url.Parse(e.srv.URL)
	cookie := cookieHeader(ann.http, u)
	dial := func(doc string) net.Conn {
		c, err := rawSocket(u.Host, cookie, doc)
		if err != nil {
			b.Error(err)
		}
		return c
	}
	// One socket per document first, so that the rooms are open before
	// the first measurement.
	var conns []net.Conn
	for _, d := range docs {
		conns = append(conns, dial(d))
	}
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for b.Loop() {
		before := inUse()
		opened := make([]net.Conn, n)
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Go(func() {
				for i := w; i < n; i += 16 {
					opened[i] = dial(docs[i%len(docs)])
				}
			})
		}
		wg.Wait()
		conns = append(conns, opened...)
		time.Sleep(writerPark + 300*time.Millisecond) // presence flushes, writers park and end
		after := inUse()
		if p := os.Getenv("IDLE_HEAP_PROFILE"); p != "" {
			writeHeapProfile(b, p)
		}
		b.ReportMetric(float64(after.heap-before.heap)/float64(n), "heap-B/socket")
		b.ReportMetric(float64(after.stack-before.stack)/float64(n), "stack-B/socket")
		b.ReportMetric(float64(after.heap+after.stack-before.heap-before.stack)/float64(n), "B/socket")
		b.ReportMetric(float64(after.goroutines-before.goroutines)/float64(n), "goroutines/socket")
		if b.Failed() {
			b.FailNow()
		}
		for _, c := range conns[len(docs):] {
			c.Close()
		}
		conns = conns[:len(docs)]
	}
}

type memUse struct{ heap, stack, goroutines uint64 }

// inUse is the heap and stacks in use after a GC, and the goroutines.
func inUse() memUse {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memUse{m.HeapInuse, m.StackInuse, uint64(runtime.NumGoroutine())}
}

// cookieHeader is the Cookie header c's jar sends to u.
func cookieHeader(c *http.Client, u *url.URL) string {
	var parts []string
	for _, k := range c.Jar.Cookies(u) {
		parts = append(parts, k.Name+"="+k.Value)
	}
	return strings.Join(parts, "; ")
}

// rawSocket opens a protocol socket by hand with cookie, joins doc and
// reads until it is joined, leaving the rest unread.
func rawSocket(host, cookie, doc string) (net.Conn, error) {
	c, err := net.Dial("tcp", host)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /api/socket HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: " + Subprotocol + "\r\nCookie: " + cookie + "\r\n\r\n"
	join := fmt.Appendf(nil, `{"type":"join","doc":%q}`, doc)
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := c.Write(clientFrame(join)); err != nil {
		c.Close()
		return nil, err
	}
	// Server frames are unmasked: the text is there to find as it is.
	var buf [4096]byte
	var seen []byte
	for !bytes.Contains(seen, []byte(`"type":"joined"`)) {
		k, err := c.Read(buf[:])
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("socket: %w (read %q)", err, seen)
		}
		if len(seen) == 0 && !bytes.HasPrefix(buf[:k], []byte("HTTP/1.1 101")) {
			c.Close()
			return nil, fmt.Errorf("socket: handshake answered %q", buf[:k])
		}
		seen = append(seen, buf[:k]...)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// clientFrame is a masked text frame (mask key zero: the payload as it is).
func clientFrame(payload []byte) []byte {
	f := []byte{0x81}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	default:
		f = append(f, 0x80|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	}
	f = append(f, 0, 0, 0, 0)
	return append(f, payload...)
}

// writeHeapProfile writes the heap profile to path (IDLE_HEAP_PROFILE), to
// see where an idle socket's memory goes.
func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}
