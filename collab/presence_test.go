package collab

import (
	"encoding/json"
	"reflect"
	"sort"
	"testing"
	"unicode/utf8"

	"tandem/ot"
	"tandem/store"
)

// decodeNews turns what flush returned into (skip, message) pairs, sorted.
func decodeNews(t *testing.T, news []presenceNews) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, n := range news {
		var m map[string]any
		if err := json.Unmarshal(n.msg, &m); err != nil {
			t.Fatal(err)
		}
		m["skip"] = n.skip
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["session"].(string) < out[j]["session"].(string) })
	return out
}

func TestPresenceFlush(t *testing.T) {
	p := newPresence("d1")
	ann, bob := UserInfo{ID: "u-ann", Name: "Ann"}, UserInfo{ID: "u-bob", Name: "Bob"}
	p.add("s1", ann)
	p.add("s2", bob)
	news := decodeNews(t, p.flush(3))
	if len(news) != 2 || news[0]["session"] != "s1" || news[0]["skip"] != "s1" || news[0]["version"] != 3.0 || news[0]["doc"] != "d1" {
		t.Fatalf("first flush = %v", news)
	}
	if news := p.flush(3); len(news) != 0 {
		t.Fatalf("a flush with nothing new = %v", decodeNews(t, news))
	}

	// Many moves between flushes: one message, the latest.
	p.set("s1", []ot.Range{{Anchor: 0, Head: 0}})
	p.set("s1", []ot.Range{{Anchor: 1, Head: 2}})
	p.set("nobody", []ot.Range{{Anchor: 1, Head: 1}}) // not here: ignored
	news = decodeNews(t, p.flush(4))
	if len(news) != 1 || news[0]["skip"] != "s1" || !reflect.DeepEqual(news[0]["selection"], []any{map[string]any{"anchor": 1.0, "head": 2.0}}) {
		t.Fatalf("coalesced moves = %v", news)
	}

	// A member who leaves is announced to everyone, once; a leave right
	// after a move sends only the leave.
	p.set("s2", []ot.Range{{Anchor: 0, Head: 0}})
	p.remove("s2")
	p.remove("s2")
	news = decodeNews(t, p.flush(5))
	if len(news) != 1 || news[0]["left"] != true || news[0]["session"] != "s2" || news[0]["skip"] != "" {
		t.Fatalf("leave = %v", news)
	}
	if got := p.list(""); len(got) != 1 || got[0].Session != "s1" {
		t.Errorf("list after the leave = %+v", got)
	}
	if got := p.list("s1"); len(got) != 0 {
		t.Errorf("list for s1 holds %+v", got)
	}
}

// Selections are kept at the committed version: moved over each committed
// op (the author's caret after their insert, others' before one at it).
func TestPresenceMove(t *testing.T) {
	p := newPresence("d1")
	p.add("s1", UserInfo{ID: "ann"})
	p.add("s2", UserInfo{ID: "bob"})
	p.add("s3", UserInfo{ID: "cat"}) // no selection: stays none
	p.set("s1", []ot.Range{{Anchor: 2, Head: 2}})
	p.set("s2", []ot.Range{{Anchor: 2, Head: 4}})
	p.move(ot.Insertion(5, 2, "xy"), "ann")
	got := map[string][]ot.Range{}
	for _, i := range p.list("") {
		got[i.Session] = i.Selection
	}
	want := map[string][]ot.Range{"s1": {{Anchor: 4, Head: 4}}, "s2": {{Anchor: 2, Head: 6}}, "s3": nil}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after ann types at 2: %v, want %v", got, want)
	}
}

func TestSelectionAt(t *testing.T) {
	since := []store.OpRecord{
		{Version: 4, Op: ot.Insertion(3, 0, "ab")},
		{Version: 5, Op: ot.Deletion(5, 4, 1)},
	}
	for _, tc := range []struct {
		name  string
		sel   []ot.Range
		since []store.OpRecord
		text  string
		want  []ot.Range
	}{
		{"none stays none", nil, since, "abcd", nil},
		{"empty stays shown", []ot.Range{}, nil, "abcd", []ot.Range{}},
		{"moved over later ops", []ot.Range{{Anchor: 1, Head: 2}}, since, "abcd", []ot.Range{{Anchor: 3, Head: 4}}},
		{"clamped to the text", []ot.Range{{Anchor: 9, Head: 2}}, nil, "ab😀", []ot.Range{{Anchor: 3, Head: 2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := selectionAt(tc.sel, tc.since, utf8.RuneCountInString(tc.text)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("selectionAt = %v, want %v", got, tc.want)
			}
		})
	}
}
