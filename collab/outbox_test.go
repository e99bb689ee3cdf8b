package collab

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"tandem/ot"
)

func TestOutbox(t *testing.T) {
	o := newOutbox(5, false, 0)
	select {
	case <-o.ready:
		t.Fatal("an empty outbox is ready")
	default:
	}
	for i := range 5 {
		if !o.push(queued{msg: []byte(fmt.Sprint(i))}) {
			t.Fatalf("push %d refused below the limit", i)
		}
	}
	if o.push(queued{msg: []byte("x")}) {
		t.Fatal("push over the limit accepted")
	}
	<-o.ready
	batch := o.take(nil, 3)
	if fmt.Sprintf("%s", batch) != "[0 1 2]" || o.len() != 2 {
		t.Fatalf("take 3: %s, %d left", batch, o.len())
	}
	select {
	case <-o.ready: // more remain: the writer is told
	default:
		t.Fatal("not ready with messages left")
	}
	batch = o.take(batch, 10)
	if fmt.Sprintf("%s", batch) != "[0 1 2 3 4]" || o.len() != 0 {
		t.Fatalf("take the rest: %s", batch)
	}
	// A big burst's memory is let go once it is drained.
	big := newOutbox(100, false, 0)
	for range 50 {
		big.push(queued{msg: []byte("m")})
	}
	for big.len() > 0 {
		big.take(nil, maxFrameMsgs)
	}
	if big.msgs != nil {
		t.Errorf("drained outbox keeps %d slots", cap(big.msgs))
	}
}

// TestOutboxCompaction: a client's full outbox composes consecutive remote
// ops of a document into one op that jumps versions, keeps only each
// session's latest presence, and keeps acks (and everything else) where
// they were; the composed op turns the text it starts from into the text
// the separate ops would have.
func TestOutboxCompaction(t *testing.T) {
	o := newOutbox(8, true, 0)
	text := ""
	var version int64
	op := func(doc string, s string) queued {
		n := len([]rune(text))
		o := ot.Insertion(n, n, s)
		version++
		text, _ = ot.Apply(text, o)
		return queued{msg: encode(opMsg{Type: "op", Doc: doc, Version: version, ID: fmt.Sprint("i", version), Op: o}),
			op: &remoteOp{doc: doc, from: version, to: version, op: o}}
	}
	pres := func(session, where string) queued {
		return queued{msg: []byte(`{"type":"presence","session":"` + session + `","at":"` + where + `"}`), key: "d\x00" + session}
	}
	plain := func(s string) queued { return queued{msg: []byte(s)} }
	for _, q := range []queued{op("d", "a"), pres("s1", "1"), op("d", "b"), plain(`{"type":"ack","id":"mine"}`),
		op("d", "c"), op("d", "d"), pres("s1", "2"), pres("s2", "1"), op("d", "e")} {
		if !o.push(q) {
			t.Fatal("refused below the limit")
		}
	}
	if !o.push(op("d", "f")) { // the ninth push (op e) compacted the queue: there is room
		t.Fatal("a compacting outbox refused")
	}
	var got []string
	for _, m := range o.take(nil, 100) {
		got = append(got, string(m))
	}
	want := []string{
		`op 1..2 "ab"`, // a, then b: s1's first presence between them is replaced by its later one
		`{"type":"ack","id":"mine"}`,
		`op 3..4 "abcd"`,
		`presence s1 2`, `presence s2 1`,
		`op 5..5 "abcde"`,
		`op 6..6 "abcdef"`, // pushed after the compaction, which left room
	}
	if len(got) != len(want) {
		t.Fatalf("after compaction: %d messages %q, want %d", len(got), got, len(want))
	}
	applied := ""
	for i, m := range got {
		var msg struct {
			Type    string
			Version int64
			From    int64
			Op      ot.Op
			Session string
			At      string
		}
		if err := json.Unmarshal([]byte(m), &msg); err != nil {
			t.Fatal(err)
		}
		switch {
		case msg.Type == "op":
			from := msg.From
			if from == 0 {
				from = msg.Version
			}
			var err error
			if applied, err = ot.Apply(applied, msg.Op); err != nil {
				t.Fatalf("message %d %s does not apply to %q: %v", i, m, applied, err)
			}
			if g := fmt.Sprintf("op %d..%d %q", from, msg.Version, applied); g != want[i] {
				t.Errorf("message %d: %s, want %s", i, g, want[i])
			}
		case msg.Type == "presence":
			if g := "presence " + msg.Session + " " + msg.At; g != want[i] {
				t.Errorf("message %d: %s, want %s", i, g, want[i])
			}
		default:
			if m != want[i] {
				t.Errorf("message %d: %s, want %s", i, m, want[i])
			}
		}
	}
	if !strings.Contains(got[0], `"from":1`) || strings.Contains(got[1], "from") {
		t.Errorf("composed ops carry from, others do not: %q", got[:2])
	}
}

// TestOutboxCompactionBounded: a reader far behind a busy document holds
// about one op per document, not one per op; one that cannot be compacted
// (a link) is refused at its limit.
func TestOutboxCompactionBounded(t *testing.T) {
	o := newOutbox(16, true, 0)
	text := ""
	for v := int64(1); v <= 10000; v++ {
		n := len(text)
		op := ot.Insertion(n, n, "x")
		text += "x"
		if !o.push(queued{msg: []byte("op"), op: &remoteOp{doc: "d", from: v, to: v, op: op}}) {
			t.Fatalf("refused op %d", v)
		}
		if o.len() > 32 {
			t.Fatalf("%d messages queued after %d ops", o.len(), v)
		}
	}
	link := newOutbox(16, false, 0)
	for range 16 {
		link.push(queued{msg: []byte("op"), op: &remoteOp{doc: "d"}})
	}
	if link.push(queued{msg: []byte("op")}) {
		t.Error("a link's full outbox took more")
	}
}

// TestOutboxAcksAreNotAFlood: a client's outbox refuses errors past its
// limit of unmergeable messages (a flood it does not read), but takes a
// committed batch's acks for one client however many, up to the hard limit.
func TestOutboxAcksAreNotAFlood(t *testing.T) {
	o := newOutbox(8, true, 0)
	for i := range 3 * o.limit {
		if !o.push(queued{msg: fmt.Appendf(nil, `{"type":"ack","doc":"d","id":"a%d","version":%d}`, i, i+1)}) {
			t.Fatalf("ack %d refused", i)
		}
	}
	for i := range o.maxPlain {
		if !o.push(queued{msg: fmt.Appendf(nil, `{"type":"error","id":"e%d"}`, i)}) {
			t.Fatalf("error %d refused below the limit", i)
		}
	}
	if o.push(queued{msg: []byte(`{"type":"error","id":"over"}`)}) {
		t.Fatal("an error past the limit accepted")
	}
	for o.len() > 0 {
		o.take(nil, maxFrameMsgs)
	}
	if o.plain != 0 {
		t.Fatalf("drained outbox counts %d plain messages", o.plain)
	}
}

// TestOutboxCompactsOnlyWhenBehind: a queue over its limit is left as it
// is while its oldest message is younger than behindAfter (a busy room's
// writer gathering a frame), and compacted once that message is older, or
// once the queue is half way to its hard limit whatever its age.
func TestOutboxCompactsOnlyWhenBehind(t *testing.T) {
	pushOps := func(o *outbox, from, to int64) {
		t.Helper()
		for v := from; v <= to; v++ {
			n := int(v - 1)
			if !o.push(queued{msg: []byte("op"), op: &remoteOp{doc: "d", from: v, to: v, op: ot.Insertion(n, n, "x")}}) {
				t.Fatalf("refused op %d", v)
			}
		}
	}
	young := newOutbox(16, true, time.Hour)
	half := compactedLimit * 16 / 2
	pushOps(young, 1, int64(half-1))
	if n := young.len(); n != half-1 {
		t.Fatalf("a young queue of %d ops holds %d messages: compacted", half-1, n)
	}
	pushOps(young, int64(half), int64(half+1))
	if n := young.len(); n > 2 {
		t.Fatalf("half way to the hard limit, %d messages queued: not compacted", n)
	}

	aging := newOutbox(16, true, 30*time.Millisecond)
	pushOps(aging, 1, 40)
	if n := aging.len(); n != 40 {
		t.Fatalf("40 young ops: %d messages", n)
	}
	time.Sleep(40 * time.Millisecond)
	pushOps(aging, 41, 41)
	if n := aging.len(); n != 2 {
		t.Fatalf("after the oldest waited past behindAfter: %d messages, want 2 (ops 1..40 composed, then 41)", n)
	}
}

// TestOutboxHold: while the client has an op in flight on a document, its
// ops are not composed, and a run composed before goes out as its single
// ops; taking the op's answer ends the hold, after which ops compose
// again; a queue half way to its hard limit is compacted all the same.
func TestOutboxHold(t *testing.T) {
	o := newOutbox(4, true, 0)
	var text string
	v := int64(0)
	op := func(doc string) queued {
		n := len(text)
		v++
		text += "x"
		return queued{msg: fmt.Appendf(nil, `{"type":"op","version":%d}`, v), op: &remoteOp{doc: doc, from: v, to: v, op: ot.Insertion(n, n, "x")}}
	}
	for range 8 { // compacted at the fifth and the eighth push: a run of ops 1..7, then op 8
		o.push(op("d"))
	}
	if n := o.len(); n != 2 {
		t.Fatalf("before the hold: %d messages, want a run and an op", n)
	}
	o.hold("d")
	for range 6 {
		o.push(op("d"))
	}
	if n := o.len(); n != 8 {
		t.Fatalf("held: %d messages, want the run, op 8 and 6 single ops", n)
	}
	o.push(queued{msg: []byte(`{"type":"ack","doc":"d","id":"mine","version":15}`), answers: "d"})
	got := o.take(nil, 100)
	if len(got) != 15 {
		t.Fatalf("took %d messages, want 8 + 6 single ops and the ack: %q", len(got), got)
	}
	for i, m := range got[:14] {
		if want := fmt.Sprintf(`{"type":"op","version":%d}`, i+1); string(m) != want {
			t.Errorf("message %d: %s, want %s", i, m, want)
		}
	}
	if o.held["d"] {
		t.Fatal("the hold outlived the ack")
	}
	for range 6 {
		o.push(op("d"))
	}
	if n := o.len(); n >= 6 {
		t.Fatalf("after the ack: %d messages for 6 ops, not composed", n)
	}

	// The runs keep at most maxSingle single ops in all: a longer run
	// goes out composed even for a held document, and a drained outbox
	// keeps none.
	o.take(nil, 100)
	for range 2 * maxSingle {
		o.push(op("d"))
		if o.singles > maxSingle {
			t.Fatalf("%d single ops kept", o.singles)
		}
	}
	o.hold("d")
	if got := o.take(nil, 100); len(got) > 4 || !strings.Contains(string(got[0]), `"from"`) {
		t.Fatalf("a run past maxSingle, held: %d messages, want it composed (and at most the 3 ops after it)", len(got))
	}
	if o.singles != 0 {
		t.Fatalf("a drained outbox counts %d single ops", o.singles)
	}

	// Another document's hold leaves this one's ops alone; a queue half
	// way to its hard limit compacts a held document too.
	big := newOutbox(4, true, 0)
	big.hold("other")
	big.hold("d")
	text, v = "", 0
	half := compactedLimit * 4 / 2
	for range half + 10 {
		if !big.push(op("d")) {
			t.Fatal("refused")
		}
	}
	if n := big.len(); n >= half {
		t.Fatalf("a held queue half way to its limit holds %d messages: not compacted", n)
	}
}
