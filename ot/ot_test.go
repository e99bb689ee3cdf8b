package ot

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// mustParse decodes a wire-form op or fails the test.
func mustParse(tb testing.TB, s string) Op {
	tb.Helper()
	op, err := Parse([]byte(s))
	if err != nil {
		tb.Fatalf("Parse(%s): %v", s, err)
	}
	return op
}

func TestBuilderNormalises(t *testing.T) {
	tests := []struct {
		name  string
		build func(b *Builder)
		want  string
		base  int
		targ  int
	}{
		{"empty", func(b *Builder) {}, `[]`, 0, 0},
		{"zeros ignored", func(b *Builder) { b.Retain(0).Insert("").Delete(0) }, `[]`, 0, 0},
		{"retains merge", func(b *Builder) { b.Retain(2).Retain(3) }, `[5]`, 5, 5},
		{"inserts merge", func(b *Builder) { b.Insert("a").Insert("é") }, `["aé"]`, 0, 2},
		{"deletes merge", func(b *Builder) { b.Delete(1).Delete(2) }, `[-3]`, 3, 0},
		{"insert moves before delete", func(b *Builder) { b.Retain(1).Delete(2).Insert("x") }, `[1,"x",-2]`, 3, 2},
		{"insert joins insert before delete", func(b *Builder) { b.Insert("a").Delete(2).Insert("b") }, `["ab",-2]`, 2, 2},
		{"full", func(b *Builder) { b.Retain(3).Insert("hi").Delete(2).Retain(5) }, `[3,"hi",-2,5]`, 10, 10},
		{"astral counts once", func(b *Builder) { b.Insert("😀") }, `["😀"]`, 0, 1},
		{"invalid UTF-8 replaced", func(b *Builder) { b.Insert("a\xffb") }, `["a�b"]`, 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b Builder
			tt.build(&b)
			op := b.Op()
			if got := op.String(); got != tt.want {
				t.Errorf("op = %s, want %s", got, tt.want)
			}
			if op.BaseLen() != tt.base || op.TargetLen() != tt.targ {
				t.Errorf("lengths = %d→%d, want %d→%d", op.BaseLen(), op.TargetLen(), tt.base, tt.targ)
			}
		})
	}
}

func TestBuilderResets(t *testing.T) {
	var b Builder
	first := b.Insert("a").Op()
	second := b.Insert("b").Op()
	if first.String() != `["a"]` || second.String() != `["b"]` {
		t.Fatalf("builder leaked state between ops: %s then %s", first, second)
	}
}

func TestApply(t *testing.T) {
	tests := []struct {
		name, doc, op, want string
	}{
		{"empty doc, empty op", "", `[]`, ""},
		{"insert into empty", "", `["hello"]`, "hello"},
		{"insert at end", "abc", `[3,"d"]`, "abcd"},
		{"insert at start", "abc", `["x",3]`, "xabc"},
		{"delete everything", "héllo 😀", `[-7]`, ""},
		{"replace everything", "abc", `["xyz",-3]`, "xyz"},
		{"retain only", "abc", `[3]`, "abc"},
		{"design example", "abcdefghij", `[3,"hi",-2,5]`, "abchifghij"},
		{"astral is one code point", "a😀b", `[1,-1,1]`, "ab"},
		{"combining mark is its own code point", "e\u0301x", `[1,-1,1]`, "ex"},
		{"insert between astral chars", "😀😀", `[1,"|",1]`, "😀|😀"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Apply(tt.doc, mustParse(t, tt.op))
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if got != tt.want {
				t.Errorf("Apply(%q, %s) = %q, want %q", tt.doc, tt.op, got, tt.want)
			}
		})
	}
}

func TestApplyLengthMismatch(t *testing.T) {
	tests := []struct{ name, doc, op string }{
		{"op too short", "abc", `[2]`},
		{"op too long", "abc", `[4]`},
		{"noop on wrong length", "abc", `[]`},
		{"delete past end", "ab", `[-3]`},
		{"insert without trailing retain", "abc", `["x"]`},
		{"bytes are not code points", "😀", `[4]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Apply(tt.doc, mustParse(t, tt.op))
			if !errors.Is(err, ErrMismatch) {
				t.Fatalf("Apply(%q, %s) error = %v, want ErrMismatch", tt.doc, tt.op, err)
			}
			if _, err := Invert(mustParse(t, tt.op), tt.doc); !errors.Is(err, ErrMismatch) {
				t.Fatalf("Invert error = %v, want ErrMismatch", err)
			}
		})
	}
}

func TestTransform(t *testing.T) {
	tests := []struct {
		name          string
		doc           string
		a, b          string // a was sequenced first
		wantA, wantB  string // a', b'
		wantConverged string
	}{
		{"two inserts at one spot: first op's text first", "ab", `[1,"X",1]`, `[1,"Y",1]`, `[1,"X",2]`, `[2,"Y",1]`, "aXYb"},
		{"two inserts into empty doc", "", `["X"]`, `["Y"]`, `["X",1]`, `[1,"Y"]`, "XY"},
		{"insert at end vs insert at end", "ab", `[2,"X"]`, `[2,"Y"]`, `[2,"X",1]`, `[3,"Y"]`, "abXY"},
		{"same delete", "abcd", `[1,-2,1]`, `[1,-2,1]`, `[2]`, `[2]`, "ad"},
		{"overlapping deletes", "abcdef", `[1,-3,2]`, `[2,-3,1]`, `[1,-1,1]`, `[1,-1,1]`, "af"},
		{"delete contains delete", "abcdef", `[-6]`, `[2,-2,2]`, `[-4]`, `[]`, ""},
		{"insert inside a deleted range", "abcd", `[1,-2,1]`, `[2,"X",2]`, `[1,-1,1,-1,1]`, `[1,"X",1]`, "aXd"},
		{"delete everything vs insert at end", "ab", `[-2]`, `[2,"!"]`, `[-2,1]`, `["!"]`, "!"},
		{"emoji inserts at one spot", "😀", `[1,"👍"]`, `[1,"🎉"]`, `[1,"👍",1]`, `[2,"🎉"]`, "😀👍🎉"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := mustParse(t, tt.a), mustParse(t, tt.b)
			ap, bp, err := Transform(a, b)
			if err != nil {
				t.Fatalf("Transform: %v", err)
			}
			if ap.String() != tt.wantA || bp.String() != tt.wantB {
				t.Errorf("Transform = %s, %s; want %s, %s", ap, bp, tt.wantA, tt.wantB)
			}
			left := mustApply(t, mustApply(t, tt.doc, a), bp)
			right := mustApply(t, mustApply(t, tt.doc, b), ap)
			if left != tt.wantConverged || right != tt.wantConverged {
				t.Errorf("converged to %q and %q, want %q", left, right, tt.wantConverged)
			}
		})
	}
}

func TestTransformMismatch(t *testing.T) {
	if _, _, err := Transform(Identity(2), Identity(3)); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Transform of ops on different lengths: err = %v, want ErrMismatch", err)
	}
	if _, err := Compose(Identity(2), Identity(3)); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Compose of ops that do not chain: err = %v, want ErrMismatch", err)
	}
}

func TestCompose(t *testing.T) {
	tests := []struct{ name, a, b, want string }{
		{"typing", `[3,"a"]`, `[4,"b"]`, `[3,"ab"]`},
		{"type then backspace", `[3,"a"]`, `[3,-1]`, `[3]`},
		{"delete then insert", `[1,-1,1]`, `[1,"x",1]`, `[1,"x",-1,1]`},
		{"delete all then write", `[-3]`, `["new"]`, `["new",-3]`},
		{"split an insert", `["hello"]`, `[2,-2,1]`, `["heo"]`},
		{"identity", `[2]`, `[2]`, `[2]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Compose(mustParse(t, tt.a), mustParse(t, tt.b))
			if err != nil {
				t.Fatalf("Compose: %v", err)
			}
			if got.String() != tt.want {
				t.Errorf("Compose(%s, %s) = %s, want %s", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestInvert(t *testing.T) {
	doc := "héllo 😀 world"
	op := mustParse(t, `[1,"ÉÉ",-4,2,-1,"!",5]`)
	inv, err := Invert(op, doc)
	if err != nil {
		t.Fatal(err)
	}
	after := mustApply(t, doc, op)
	if back := mustApply(t, after, inv); back != doc {
		t.Fatalf("invert did not undo: %q", back)
	}
	if inv.BaseLen() != op.TargetLen() || inv.TargetLen() != op.BaseLen() {
		t.Fatalf("inverse lengths %d→%d, op %d→%d", inv.BaseLen(), inv.TargetLen(), op.BaseLen(), op.TargetLen())
	}
}

func TestTransformIndex(t *testing.T) {
	tests := []struct {
		name string
		pos  int
		op   string
		own  bool
		want int
	}{
		{"insert before pushes right", 3, `[1,"xy",4]`, false, 5},
		{"insert after stays", 1, `[3,"xy",2]`, false, 1},
		{"someone else's insert at caret stays before", 2, `[2,"xy",3]`, false, 2},
		{"own insert at caret moves after", 2, `[2,"xy",3]`, true, 4},
		{"delete before pulls left", 4, `[-2,3]`, false, 2},
		{"caret inside deletion goes to its start", 3, `[1,-3,1]`, false, 1},
		{"caret at end of deletion", 4, `[1,-3,1]`, false, 1},
		{"caret after deletion", 5, `[1,-3,1]`, false, 2},
		{"delete after stays", 1, `[2,-3]`, false, 1},
		{"end of doc follows append by others? no", 3, `[3,"z"]`, false, 3},
		{"end of doc follows own append", 3, `[3,"z"]`, true, 4},
		{"delete everything", 2, `[-5]`, false, 0},
		{"clamped below", -4, `["ab",3]`, false, 0},
		{"clamped above", 99, `[3,"ab"]`, false, 3},
		{"astral insert counts one", 1, `["😀",2]`, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TransformIndex(tt.pos, mustParse(t, tt.op), tt.own); got != tt.want {
				t.Errorf("TransformIndex(%d, %s, %v) = %d, want %d", tt.pos, tt.op, tt.own, got, tt.want)
			}
		})
	}
}

func TestRanges(t *testing.T) {
	op := mustParse(t, `[1,"ab",-1,3]`)
	got := TransformRanges([]Range{{0, 2}, {4, 4}}, op, false)
	want := []Range{{0, 3}, {5, 5}}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("range %d = %+v, want %+v", i, got[i], want[i])
		}
		if !got[i].InBounds(op.TargetLen()) {
			t.Errorf("range %d out of bounds", i)
		}
	}
	if TransformRanges(nil, op, true) != nil {
		t.Error("nil selection should stay nil")
	}
	if (Range{Anchor: -1}).InBounds(3) || (Range{Head: 4}).InBounds(3) {
		t.Error("InBounds accepted an out-of-bounds range")
	}
}

func TestHelpers(t *testing.T) {
	if got := Insertion(3, 1, "é").String(); got != `[1,"é",2]` {
		t.Errorf("Insertion = %s", got)
	}
	if got := Deletion(5, 1, 2).String(); got != `[1,-2,2]` {
		t.Errorf("Deletion = %s", got)
	}
	if !Identity(4).IsNoop() || !(Op{}).IsNoop() || Deletion(1, 0, 1).IsNoop() {
		t.Error("IsNoop is wrong")
	}
	if mustParse(t, `[1,"a"]`).Equal(mustParse(t, `[1,"b"]`)) || !mustParse(t, `[1,"a"]`).Equal(mustParse(t, `[1, "a"]`)) {
		t.Error("Equal is wrong")
	}
}

func TestParseGood(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", `[]`, `[]`},
		{"spaces", " [ 3 , \"hi\" , -2 , 5 ] \n", `[3,"hi",-2,5]`},
		{"escapes", `["a\"b\\c\/d\n\t\u00e9"]`, `["a\"b\\c/d\n\té"]`},
		{"surrogate pair", `["\ud83d\ude00"]`, `["😀"]`},
		{"normalises adjacent kinds", `[1,2,"a","b",-1,-1]`, `[3,"ab",-2]`},
		{"delete before insert reordered", `[-1,"x"]`, `["x",-1]`},
		{"U+2028 escaped on output", "[\"a\u2028b\"]", `["a\u2028b"]`},
		{"control char escaped on output", `["\u0001"]`, `["\u0001"]`},
		{"U+FFFD literal is fine", `["�"]`, `["�"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := mustParse(t, tt.in)
			out, err := json.Marshal(op)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("round trip of %s = %s, want %s", tt.in, out, tt.want)
			}
			// What we emit, encoding/json reads back as the same op.
			var again Op
			if err := json.Unmarshal(out, &again); err != nil || !again.Equal(op) {
				t.Errorf("re-decoding %s: %v, %s", out, err, again)
			}
		})
	}
}

func TestParseBad(t *testing.T) {
	tests := []struct{ name, in, wantMsg string }{
		{"not an array", `{"a":1}`, "must be a JSON array"},
		{"null", `null`, "must be a JSON array"},
		{"empty input", ``, "must be a JSON array"},
		{"float", `[1.5]`, "not an integer"},
		{"float that is whole", `[1.0]`, "not an integer"},
		{"exponent", `[1e3]`, "not an integer"},
		{"zero", `[0]`, "zero"},
		{"negative zero", `[-0]`, "zero"},
		{"leading zero", `[01]`, "leading zero"},
		{"empty string", `[""]`, "must not be empty"},
		{"nested array", `[[1]]`, "want an integer or a string"},
		{"object", `[{"retain":1}]`, "want an integer or a string"},
		{"boolean", `[true]`, "want an integer or a string"},
		{"null component", `[null]`, "want an integer or a string"},
		{"trailing comma", `[1,]`, "want an integer or a string"},
		{"missing comma", `[1 2]`, "want ',' or ']'"},
		{"unterminated", `[1`, "want ',' or ']'"},
		{"trailing data", `[1] x`, "after the operation"},
		{"two arrays", `[1][2]`, "after the operation"},
		{"lone high surrogate", `["\ud800"]`, "lone surrogate"},
		{"lone low surrogate", `["\udc00"]`, "lone surrogate"},
		{"high then not low", `["\ud800\u0041"]`, "lone surrogate"},
		{"high then text", `["\ud800x"]`, "lone surrogate"},
		{"invalid UTF-8", "[\"a\xffb\"]", "not valid UTF-8"},
		{"UTF-8 encoded surrogate", "[\"\xed\xa0\x80\"]", "not valid UTF-8"},
		{"raw control char", "[\"a\x01\"]", "control character"},
		{"carriage return", `["a\r\nb"]`, "carriage return"},
		{"NUL", `["a\u0000b"]`, "U+0000"},
		{"NUL alone", `[2,"\u0000"]`, "U+0000"},
		{"bad escape", `["\x"]`, "unknown escape"},
		{"bad hex", `["\u12g4"]`, "bad hex digit"},
		{"short unicode escape", `["\u12`, "short"},
		{"unterminated string", `["abc`, "unterminated string"},
		{"huge retain", `[99999999999999999999999]`, "larger than"},
		{"too long in total", `[1073741824,1073741824]`, "more than"},
		{"minus alone", `[-]`, "needs digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var op Op
			err := json.Unmarshal([]byte(`{"op":`+tt.in+`}`), &struct{ Op *Op }{&op})
			if tt.in == "" || tt.in == "null" || !json.Valid([]byte(tt.in)) {
				// encoding/json rejects or skips these before we see them:
				// check our own parser directly.
				_, err = Parse([]byte(tt.in))
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("decoding %s: err = %v, want ErrMalformed", tt.in, err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("decoding %s: error %q does not say %q", tt.in, err, tt.wantMsg)
			}
		})
	}
}

func TestCheckText(t *testing.T) {
	if err := CheckText("héllo\n😀"); err != nil {
		t.Errorf("good text refused: %v", err)
	}
	for _, bad := range []string{"a\rb", "a\xffb", "a\x00b"} {
		if err := CheckText(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("CheckText(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

// TestCheckOp: ops made with a Builder rather than parsed can hold any text;
// CheckOp refuses what Parse would.
func TestCheckOp(t *testing.T) {
	if err := CheckOp(new(Builder).Retain(2).Insert("é\n😀").Delete(1).Op()); err != nil {
		t.Errorf("good op refused: %v", err)
	}
	for _, bad := range []string{"a\x00", "\r"} {
		op := Insertion(3, 1, bad)
		if err := CheckOp(op); !errors.Is(err, ErrMalformed) {
			t.Errorf("CheckOp(%s) = %v, want ErrMalformed", op, err)
		}
	}
}

// TestParseStored: an op stored before U+0000 was refused still reads, with
// U+FFFD in place of each U+0000, so lengths and later versions still fit.
func TestParseStored(t *testing.T) {
	op, err := ParseStored([]byte(`[1,"a\u0000b\u0000",-1,2]`))
	if err != nil || op.String() != "[1,\"a\uFFFDb\uFFFD\",-1,2]" || op.TargetLen() != 7 {
		t.Fatalf("ParseStored = %s, %v", op, err)
	}
	if _, err := ParseStored([]byte(`["\ud800"]`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("ParseStored accepted a lone surrogate: %v", err)
	}
}

func TestAllocations(t *testing.T) {
	doc := strings.Repeat("a", 1000)
	a, b := Insertion(1000, 500, "x"), Insertion(1000, 200, "y")
	if n := testing.AllocsPerRun(100, func() { _, _ = Apply(doc, a) }); n > 1 {
		t.Errorf("Apply allocates %v times, want at most 1 (the result)", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _, _ = Transform(a, b) }); n > 2 {
		t.Errorf("Transform of keystrokes allocates %v times, want at most 2 (the two results)", n)
	}
	if n := testing.AllocsPerRun(100, func() { TransformIndex(700, a, false) }); n != 0 {
		t.Errorf("TransformIndex allocates %v times, want 0", n)
	}
}

func mustApply(tb testing.TB, doc string, op Op) string {
	tb.Helper()
	out, err := Apply(doc, op)
	if err != nil {
		tb.Fatalf("Apply(%q, %s): %v", doc, op, err)
	}
	return out
}

func TestSize(t *testing.T) {
	small := Insertion(10, 5, "ab")
	big := Insertion(10, 5, strings.Repeat("é", 1000))
	if small.Size() <= 2 || big.Size()-small.Size() != 2000-2 {
		t.Errorf("Size: %d and %d", small.Size(), big.Size())
	}
	if (Op{}).Size() != 0 {
		t.Errorf("zero op Size = %d", (Op{}).Size())
	}
}

// WireSize is the length of the wire form, and a keystroke's costs no
// allocation.
func TestWireSize(t *testing.T) {
	for _, op := range []Op{
		{},
		Insertion(0, 0, "a"),
		Insertion(5, 2, "é😀\n\t\"\\\u2028\x01"),
		Deletion(1000, 998, 2),
		Insertion(3, 1, strings.Repeat("long text ", 50)),
	} {
		if got, want := op.WireSize(), len(op.AppendJSON(nil)); got != want {
			t.Errorf("WireSize(%s) = %d, want %d", op, got, want)
		}
	}
	r := rand.New(rand.NewPCG(7, 7))
	for range 500 {
		op := randOp(r, r.IntN(40))
		if got, want := op.WireSize(), len(op.AppendJSON(nil)); got != want {
			t.Fatalf("WireSize(%s) = %d, want %d", op, got, want)
		}
	}
	key := Insertion(700, 350, "x")
	if n := testing.AllocsPerRun(100, func() { key.WireSize() }); n != 0 {
		t.Errorf("WireSize of a keystroke allocates %v times", n)
	}
}
