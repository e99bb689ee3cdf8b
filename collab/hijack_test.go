package collab

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"net"
	"testing"
)

// writeRecorder is a net.Conn that records each write.
type writeRecorder struct {
	net.Conn
	writes [][]byte
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

// serverFrame is an unmasked frame as the library writes it.
func serverFrame(n int) []byte {
	f := []byte{0x81}
	switch {
	case n < 126:
		f = append(f, byte(n))
	case n < 1<<16:
		f = append(f, 126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, 127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	return append(f, bytes.Repeat([]byte{'x'}, n)...)
}

// TestFrameWriter: frames of every size go out whole and in order through
// the socket's small buffer, written as the library writes them (header,
// payload, flush): a short one in one write, a longer one as its held start
// and its rest together (net.Buffers: one writev on a TCP connection; two
// writes to this recorder, the first only once the rest has come).
func TestFrameWriter(t *testing.T) {
	rec := &writeRecorder{}
	bw := bufio.NewWriterSize(&frameWriter{conn: rec}, socketWriteBuffer)
	var want []byte
	sizes := []int{0, 5, 100, 122, 123, 124, 125, 126, 127, 500, 4096, 70000, 3}
	for _, n := range sizes {
		f := serverFrame(n)
		h := len(f) - n
		want = append(want, f...)
		if _, err := bw.Write(f[:h]); err != nil {
			t.Fatal(err)
		}
		if _, err := bw.Write(f[h:]); err != nil {
			t.Fatal(err)
		}
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if got := bytes.Join(rec.writes, nil); !bytes.Equal(got, want) {
		t.Fatalf("wrote %d bytes, want %d the same", len(got), len(want))
	}
	long := 0
	for _, n := range sizes {
		if len(serverFrame(n)) > socketWriteBuffer {
			long++
		}
	}
	if len(rec.writes) != len(sizes)+long {
		t.Errorf("%d writes for %d frames, %d of them longer than the buffer", len(rec.writes), len(sizes), long)
	}
	// A long frame's start is held until its rest comes.
	rec.writes = nil
	fw := &frameWriter{conn: rec}
	f := serverFrame(1000)
	if _, err := fw.Write(f[:socketWriteBuffer]); err != nil || len(rec.writes) != 0 || fw.held != socketWriteBuffer {
		t.Fatalf("a frame's start: %d writes, %d held (%v)", len(rec.writes), fw.held, err)
	}
	if n, err := fw.Write(f[socketWriteBuffer:]); err != nil || n != len(f)-socketWriteBuffer || !bytes.Equal(bytes.Join(rec.writes, nil), f) {
		t.Fatalf("its rest: wrote %d (%v)", n, err)
	}
	// Frames run together without a flush (no longer followed): every byte
	// still goes out, in order.
	rec.writes = nil
	fw = &frameWriter{conn: rec}
	two := append(serverFrame(300), serverFrame(10)...)
	for _, chunk := range [][]byte{two[:1], two[1:200], two[200:]} {
		if _, err := fw.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if got := bytes.Join(rec.writes, nil); !bytes.Equal(got, two) || fw.held != 0 {
		t.Fatalf("wrote %d bytes (%d held), want %d", len(got), fw.held, len(two))
	}
}
