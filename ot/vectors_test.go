package ot

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// The browser has its own implementation of this package (frontend/src/ot.js).
// TestJSVectors writes what this package computes on a fixed set of random
// cases to a file that the frontend's Node tests replay, so the two can never
// drift apart: change this package, and this test fails until the file is
// regenerated, after which the Node tests fail until the JS agrees.
var updateVectors = flag.Bool("update-vectors", false, "rewrite frontend/testdata/ot-vectors.json")

const vectorsPath = "../frontend/testdata/ot-vectors.json"

// vectorCase is one shared test vector. Ops are in the wire form.
type vectorCase struct {
	Doc     string          `json:"doc"`
	A       json.RawMessage `json:"a"`
	B       json.RawMessage `json:"b"`
	ApplyA  string          `json:"apply_a"`
	APrime  json.RawMessage `json:"a_prime"`
	BPrime  json.RawMessage `json:"b_prime"`
	Compose json.RawMessage `json:"compose_a_b_prime"`
	Result  string          `json:"result"`
	// Indexes are [pos, own (0 or 1), TransformIndex(pos, a, own)].
	Indexes [][3]int `json:"indexes"`
}

// normalizeCase is an op in any order of components and its normal form.
type normalizeCase struct {
	Raw  json.RawMessage `json:"raw"`
	Want json.RawMessage `json:"want"`
}

type vectors struct {
	Cases     []vectorCase    `json:"cases"`
	Normalize []normalizeCase `json:"normalize"`
}

func buildVectors(t *testing.T) vectors {
	var v vectors
	for i := range 400 {
		r := rand.New(rand.NewPCG(42, uint64(i)))
		doc := randText(r, 12)
		n := runeCount(doc)
		a, b := randOp(r, n), randOp(r, n)
		ap, bp, err := Transform(a, b)
		if err != nil {
			t.Fatal(err)
		}
		ab, err := Compose(a, bp)
		if err != nil {
			t.Fatal(err)
		}
		c := vectorCase{
			Doc: doc, A: a.AppendJSON(nil), B: b.AppendJSON(nil),
			ApplyA: mustApply(t, doc, a), APrime: ap.AppendJSON(nil), BPrime: bp.AppendJSON(nil),
			Compose: ab.AppendJSON(nil), Result: mustApply(t, doc, ab),
		}
		for pos := range n + 1 {
			own := r.IntN(2)
			c.Indexes = append(c.Indexes, [3]int{pos, own, TransformIndex(pos, a, own == 1)})
		}
		v.Cases = append(v.Cases, c)
	}
	for i := range 200 {
		r := rand.New(rand.NewPCG(43, uint64(i)))
		// Components in any order and unmerged, as a client may send them.
		var raw []any
		for range 1 + r.IntN(6) {
			switch r.IntN(3) {
			case 0:
				raw = append(raw, 1+r.IntN(5))
			case 1:
				raw = append(raw, -(1 + r.IntN(5)))
			default:
				raw = append(raw, randText(r, 3)+"x")
			}
		}
		rawJSON, err := json.Marshal(raw)
		if err != nil {
			t.Fatal(err)
		}
		op, err := Parse(rawJSON)
		if err != nil {
			t.Fatalf("parse %s: %v", rawJSON, err)
		}
		v.Normalize = append(v.Normalize, normalizeCase{Raw: rawJSON, Want: op.AppendJSON(nil)})
	}
	return v
}

func TestJSVectors(t *testing.T) {
	got := encodeVectors(t, buildVectors(t))
	if *updateVectors {
		if err := os.MkdirAll(filepath.Dir(vectorsPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("%v: run go test ./ot -run TestJSVectors -update-vectors", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./ot -run TestJSVectors -update-vectors, then npm test in frontend/", vectorsPath)
	}
}

// encodeVectors writes one case per line, so that a change shows as a
// readable diff.
func encodeVectors(t *testing.T, v vectors) []byte {
	var out bytes.Buffer
	list := func(name string, n int, item func(i int) any) {
		fmt.Fprintf(&out, "%q: [\n", name)
		for i := range n {
			line, err := json.Marshal(item(i))
			if err != nil {
				t.Fatal(err)
			}
			out.Write(line)
			if i < n-1 {
				out.WriteByte(',')
			}
			out.WriteByte('\n')
		}
		out.WriteString("]")
	}
	out.WriteString("{\n")
	list("cases", len(v.Cases), func(i int) any { return v.Cases[i] })
	out.WriteString(",\n")
	list("normalize", len(v.Normalize), func(i int) any { return v.Normalize[i] })
	out.WriteString("\n}\n")
	return out.Bytes()
}
