package ot

import (
	"slices"
	"strings"
	"testing"
)

// Keystrokes in a 10,000 code point document: the common case on the hot path.
var (
	keyA = Insertion(10_000, 4_000, "a")
	keyB = Insertion(10_000, 6_000, "é")
	keyC = Insertion(10_001, 4_001, "b") // typed after keyA
	bs   = Deletion(10_000, 5_000, 1)
)

func BenchmarkTransformKeystrokes(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Transform(keyA, keyB); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTransformInsertDelete(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Transform(keyA, bs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTransformOverHistory brings a late keystroke over 64 others, as
// a room's sequencer does (TransformOver: only the late op is built).
func BenchmarkTransformOverHistory(b *testing.B) {
	history := make([]Op, 64)
	for i := range history {
		history[i] = Insertion(10_000+i, (i*7919)%(10_000+i), "x")
	}
	b.ReportAllocs()
	for b.Loop() {
		op := keyB
		for _, h := range history {
			var err error
			if op, err = TransformOver(op, h); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkTransformOverAllHistory is BenchmarkTransformOverHistory with
// TransformOverAll, the sequencer's way: keystrokes move by arithmetic.
func BenchmarkTransformOverAllHistory(b *testing.B) {
	history := make([]Op, 64)
	for i := range history {
		history[i] = Insertion(10_000+i, (i*7919)%(10_000+i), "x")
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := TransformOverAll(keyB, slices.Values(history)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkComposeKeystrokes(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compose(keyA, keyC); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTransformIndex(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		TransformIndex(7_000, keyA, false)
	}
}

// BenchmarkApply1MiB inserts one character in the middle of a 1 MiB document.
func BenchmarkApply1MiB(b *testing.B) {
	for _, tc := range []struct {
		name string
		unit string
	}{
		{"ascii", "abcdefgh"},
		{"mixed", "añ中😀"}, // 1+2+3+4 bytes: the slow path every character
	} {
		doc := strings.Repeat(tc.unit, (1<<20)/len(tc.unit))
		n := len([]rune(doc))
		op := Insertion(n, n/2, "x")
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				if _, err := Apply(doc, op); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	wire := []byte(`[4000,"a",6000]`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(wire); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = keyA.AppendJSON(buf[:0])
	}
}
