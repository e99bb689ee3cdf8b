package collab

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"time"
)

// Buffer sizes of a client socket: the WebSocket library keeps its
// connection's buffered reader and writer for the connection's life, and
// net/http's are 4 KiB each, most of an idle socket's heap.
const (
	// socketReadBuffer holds a typical client message (an op, a
	// presence) in one read; a bigger payload is read into the message
	// directly.
	socketReadBuffer = 512
	// socketWriteBuffer holds a frame header and a short message (an ack);
	// a longer frame goes out in one write all the same (frameWriter).
	socketWriteBuffer = 128
)

// smallBuffers wraps the ResponseWriter given to websocket.Accept: its
// Hijack hands the library small buffers in place of net/http's, and a
// writer that keeps the connection's write deadline (frameWriter).
type smallBuffers struct {
	http.ResponseWriter
	writeTimeout time.Duration
}

func (w smallBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// What the client sent after its handshake waits in net/http's reader
	// (its writer is empty: the 101 went out before the hijack). The new
	// reader starts with it, buffered, as the library expects.
	pending, _ := brw.Reader.Peek(brw.Reader.Buffered())
	n := len(pending)
	r := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(pending)), conn), max(socketReadBuffer, n))
	if _, err := r.Peek(n); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, bufio.NewReadWriter(r, bufio.NewWriterSize(&frameWriter{conn: conn, timeout: w.writeTimeout}, socketWriteBuffer)), nil
}

// frameWriter is what a socket's small buffered writer writes to. The
// library writes a frame as its header, its payload and a flush, so a
// frame longer than the buffer comes as a full buffer (the header and the
// payload's start) and then the rest: frameWriter holds that start back
// and sends it with the rest in one write, as a 4 KiB buffer would have.
// It follows the frames in what it is given, and passes everything
// through at once should it ever lose track of them.
//
// It also keeps the write timeout, as a deadline on the connection rather
// than a context per write (a timer and three allocations per frame, in a
// big room a good part of the server's garbage): every write, of a frame,
// a ping, a pong or the close, may take timeout, give or take
// deadlineSlack.
type frameWriter struct {
	conn     net.Conn
	timeout  time.Duration // 0: no deadline
	deadline time.Time     // the connection's write deadline
	hold     [socketWriteBuffer]byte
	held     int       // bytes of hold waiting for the rest of their frame
	remain   int64     // bytes of the current frame still to come; 0: a frame starts next
	lost     bool      // a frame header was cut: pass everything through
	vec      [2][]byte // a held start and the rest, written as one
	bufs     net.Buffers
}

// deadlineSlack is how much of the write timeout a write may find already
// used: the deadline is moved only when less than timeout - slack remains,
// not on every write (each move takes the runtime's timer lock).
func deadlineSlack(timeout time.Duration) time.Duration {
	return min(time.Second, timeout/10)
}

func (w *frameWriter) Write(p []byte) (int, error) {
	if w.timeout > 0 {
		if now := time.Now(); w.deadline.Sub(now) < w.timeout-deadlineSlack(w.timeout) {
			w.deadline = now.Add(w.timeout)
			if err := w.conn.SetWriteDeadline(w.deadline); err != nil {
				return 0, err
			}
		}
	}
	if w.held > 0 {
		held := w.held
		w.held = 0
		w.advance(p)
		w.vec = [2][]byte{w.hold[:held], p}
		w.bufs = w.vec[:] // a field, so that WriteTo (which consumes it) allocates nothing
		n, err := w.bufs.WriteTo(w.conn)
		w.vec, w.bufs = [2][]byte{}, nil
		return int(max(0, n-int64(held))), err
	}
	if !w.lost && w.remain == 0 && len(p) <= len(w.hold) {
		if size, ok := frameSize(p); ok && size > int64(len(p)) {
			w.held = copy(w.hold[:], p)
			w.remain = size - int64(len(p))
			return len(p), nil
		}
	}
	w.advance(p)
	return w.conn.Write(p)
}

// advance follows the frames through p.
func (w *frameWriter) advance(p []byte) {
	for len(p) > 0 && !w.lost {
		if w.remain == 0 {
			size, ok := frameSize(p)
			if !ok {
				w.lost = true
				return
			}
			w.remain = size
		}
		k := min(w.remain, int64(len(p)))
		w.remain -= k
		p = p[k:]
	}
}

// frameSize is the length, header and payload, of the frame that b starts
// with; ok is false if b does not hold the whole header.
func frameSize(b []byte) (size int64, ok bool) {
	if len(b) < 2 {
		return 0, false
	}
	n, h := int64(b[1]&0x7f), 2
	switch n {
	case 126:
		h = 4
	case 127:
		h = 10
	}
	if len(b) < h {
		return 0, false
	}
	switch h {
	case 4:
		n = int64(binary.BigEndian.Uint16(b[2:]))
	case 10:
		n = int64(binary.BigEndian.Uint64(b[2:]) & (1<<63 - 1))
	}
	if b[1]&0x80 != 0 {
		h += 4 // masking key
	}
	return int64(h) + n, true
}
