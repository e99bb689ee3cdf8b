package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"tandem/ot"
)

func TestEachMsg(t *testing.T) {
	frame := `[{"type":"op","doc":"d1","version":7,"id":"e1-2","op":[3,"h\"i",-2,5],"user":"u1"},
		{"type":"presence","doc":"d1","version":7,"session":"s","user":{"id":"u","name":"N","color":"#aabbcc"},"selection":[{"anchor":1,"head":2}]},
		{"type":"op","doc":"d1","version":9,"from":8,"id":"","op":[12],"user":""},
		{"type":"ack","doc":"d1","id":"e\u0031-3","version":10}, {"type":"joined","doc":"d1","version":10,"role":"editor","content":"x","presence":[],"left":true,"n":null}]`
	var got []string
	err := eachMsg([]byte(frame), nil, func(m *msg) error {
		got = append(got, fmt.Sprintf("%s v%d f%d id=%s op=%s", m.typ, m.version, m.from, m.id, m.op))
		return nil
	})
	want := []string{
		`op v7 f0 id=e1-2 op=[3,"h\"i",-2,5]`,
		`presence v7 f0 id= op=`,
		`op v9 f8 id= op=[12]`,
		`ack v10 f0 id=e1-3 op=`,
		`joined v10 f0 id= op=`,
	}
	if err != nil || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got %v, %q\nwant %q", err, got, want)
	}
	var one msg
	if err := eachMsg([]byte(` {"version":3,"type":"ack","id":"a"} `), nil, func(m *msg) error { one = *m; return nil }); err != nil || string(one.typ) != "ack" || one.version != 3 || string(one.raw) != `{"version":3,"type":"ack","id":"a"}` {
		t.Fatalf("one message: %v %+v", err, one)
	}
	for _, bad := range []string{``, `{"type":"op"`, `[{"type":"op"}`, `{"type" "op"}`, `{"op":[1,2}`, `[{},]`, `"x"`} {
		if err := eachMsg([]byte(bad), nil, func(*msg) error { return nil }); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestOpLens checks the lengths read from an op's wire form against the
// op package's, for random ops and for escapes the server may send.
func TestOpLens(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "é", "中", "😀", "\n", "\"", "\\", "\t", "\u2028", "\u0001"}
	for range 2000 {
		var b ot.Builder
		for range 1 + rng.IntN(6) {
			switch rng.IntN(3) {
			case 0:
				b.Retain(1 + rng.IntN(50))
			case 1:
				b.Delete(1 + rng.IntN(5))
			default:
				var s strings.Builder
				for range 1 + rng.IntN(4) {
					s.WriteString(pieces[rng.IntN(len(pieces))])
				}
				b.Insert(s.String())
			}
		}
		op := b.Op()
		wire, _ := op.MarshalJSON()
		base, target, err := opLens(wire)
		if err != nil || base != op.BaseLen() || target != op.TargetLen() {
			t.Fatalf("%s: lengths %d, %d (%v), want %d, %d", wire, base, target, err, op.BaseLen(), op.TargetLen())
		}
	}
	for _, c := range []struct {
		wire         string
		base, target int
	}{
		{`[ 2 , "\ud83d\ude00" , -1 ]`, 3, 3},
		{`["\u00e9\n\"x"]`, 0, 4},
		{`["\ud83dx"]`, 0, 2}, // a lone surrogate escape (never sent) counts one
		{`[]`, 0, 0},
	} {
		base, target, err := opLens([]byte(c.wire))
		if err != nil || base != c.base || target != c.target {
			t.Errorf("%s: %d, %d, %v; want %d, %d", c.wire, base, target, err, c.base, c.target)
		}
	}
	for _, bad := range []string{`{}`, `[0]`, `[1.5]`, `["a"`, `[true]`} {
		if _, _, err := opLens([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestIsFull(t *testing.T) {
	for _, c := range []struct{ editors, full int }{{400, 20}, {30, 20}, {3, 20}, {7, 1}, {1000, 20}} {
		cfg := config{editors: c.editors, full: c.full}
		var ks []int
		for k := range c.editors {
			if cfg.isFull(k) {
				ks = append(ks, k)
			}
		}
		if len(ks) != min(c.editors, c.full) {
			t.Errorf("%d editors, %d full: full ones are %v", c.editors, c.full, ks)
		}
		if c.editors >= 2*c.full && ks[len(ks)-1] < c.editors/2 {
			t.Errorf("%d editors, %d full: full ones are not spread: %v", c.editors, c.full, ks)
		}
	}
}

// TestTimesRemote checks that about 1 op in remoteEvery is timed.
func TestTimesRemote(t *testing.T) {
	for _, every := range []uint32{1, 3, 20, 50} {
		r := run{remoteEvery: every}
		n := 0
		for e := range 100 {
			for seq := range 200 {
				if r.timesRemote([]byte(fmt.Sprintf("e%d-%d", e, seq))) {
					n++
				}
			}
		}
		if want := 20000 / int(every); n < want*8/10 || n > want*12/10 {
			t.Errorf("1 in %d: %d of 20000 timed, want about %d", every, n, want)
		}
	}
}

// TestAppendJSONString: what it writes reads back as the string.
func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "u12-e3-45", `a"b`, `a\b`, "é中😀", "a\nb\x01", "<&>"} {
		b := appendJSONString([]byte("x"), s)
		var got string
		if err := json.Unmarshal(b[1:], &got); err != nil || got != s || b[0] != 'x' {
			t.Errorf("%q: wrote %s (%v)", s, b, err)
		}
	}
}

// BenchmarkEachMsg reads a frame as a writer in a room of 1,000 sends it:
// 33 op messages, each an edit at one place with ids of real length, and
// the lengths of each op, as a light editor does.
func BenchmarkEachMsg(b *testing.B) {
	var frame []byte
	frame = append(frame, '[')
	for i := range 33 {
		if i > 0 {
			frame = append(frame, ',')
		}
		frame = fmt.Appendf(frame, `{"type":"op","doc":"Yq3JkQ2c1mV8uN5rT0xWgA","version":%d,"id":"e%d-%d","op":[%d,"k",%d],"user":"Zx81mKq0Pw4LrT7sVb2NcQ"}`,
			40000+i, i*29, 1000+i, 300+i*7, 2100-i*7)
	}
	frame = append(frame, ']')
	var m msg
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if err := eachMsg(frame, &m, func(m *msg) error {
			_, _, err := opLens(m.op)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
}
