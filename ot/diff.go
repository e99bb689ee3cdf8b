package ot

import (
	"iter"
	"slices"
	"strings"
	"unicode/utf8"
)

// Component is one step of an Op, as Components yields it: exactly one of
// Retain (code points kept), Insert (text inserted) and Delete (code points
// removed) is set.
type Component struct {
	Retain int
	Insert string
	Delete int
}

// Components yields op's steps in document order.
func (op Op) Components() iter.Seq[Component] {
	return func(yield func(Component) bool) {
		for _, c := range op.comps {
			var out Component
			switch {
			case c.isInsert():
				out.Insert = c.s
			case c.n > 0:
				out.Retain = c.n
			default:
				out.Delete = -c.n
			}
			if !yield(out) {
				return
			}
		}
	}
}

// Diff returns an op that turns a into b, keeping what they have in common
// so that it touches only what changed: their common beginning and end,
// between those the lines they share (a shortest line diff), and within each
// stretch of changed lines again its common beginning and end. Texts that
// differ in more than maxDiffLines lines give up on the lines: what lies
// between the common ends is replaced whole. Positions are in whole code
// points. It is the identity on a when a == b.
func Diff(a, b string) Op {
	var bld Builder
	diff(&bld, a, b, true)
	return bld.Op()
}

// maxDiffLines bounds the line diff: lines deleted plus lines inserted.
// Its cost is about (lines of a + lines of b) × maxDiffLines steps and
// maxDiffLines² words of memory.
const maxDiffLines = 400

// diff appends to bld the op that turns a into b, by lines if byLines.
func diff(bld *Builder, a, b string, byLines bool) {
	p, s := commonEnds(a, b)
	if byLines {
		// Common ends of whole lines only, so that the lines between line
		// up; worth it if there are lines to diff between them.
		lp, ls := strings.LastIndexByte(a[:p], '\n')+1, s
		if at := len(a) - s; at > 0 && a[at-1] != '\n' {
			ls -= strings.IndexByte(a[at:], '\n') + 1 // 0 if the suffix holds none
		}
		x, y := splitLines(a[lp:len(a)-ls]), splitLines(b[lp:len(b)-ls])
		if same, ok := commonLines(x, y); ok {
			bld.Retain(utf8.RuneCountInString(a[:lp]))
			i, j := 0, 0
			for _, m := range append(same, [2]int{len(x), len(y)}) {
				if m[0] > i || m[1] > j {
					diff(bld, strings.Join(x[i:m[0]], ""), strings.Join(y[j:m[1]], ""), false)
				}
				if m[0] < len(x) {
					bld.Retain(utf8.RuneCountInString(x[m[0]]))
				}
				i, j = m[0]+1, m[1]+1
			}
			bld.Retain(utf8.RuneCountInString(a[len(a)-ls:]))
			return
		}
	}
	bld.Retain(utf8.RuneCountInString(a[:p]))
	bld.Insert(b[p : len(b)-s])
	bld.Delete(utf8.RuneCountInString(a[p : len(a)-s]))
	bld.Retain(utf8.RuneCountInString(a[len(a)-s:]))
}

// commonEnds returns the lengths in bytes of a's and b's longest common
// prefix and, of what follows it, longest common suffix, both whole
// characters.
func commonEnds(a, b string) (prefix, suffix int) {
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	// Back to a character boundary (in valid UTF-8, a boundary of a there
	// is one of b: the bytes before are equal).
	for p > 0 && (p < len(a) && !utf8.RuneStart(a[p]) || p < len(b) && !utf8.RuneStart(b[p])) {
		p--
	}
	s := 0
	for s < len(a)-p && s < len(b)-p && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	for s > 0 && !utf8.RuneStart(a[len(a)-s]) {
		s--
	}
	return p, s
}

// commonLines returns the pairs (i, j) of lines x[i] == y[j] of a longest
// common subsequence of the two, in order; ok is false, when there are not
// two lines on either side (nothing to gain) or the two differ in more than
// maxDiffLines lines (too costly).
func commonLines(x, y []string) (pairs [][2]int, ok bool) {
	if len(x) < 2 && len(y) < 2 {
		return nil, false
	}
	ids := map[string]int{}
	id := func(lines []string) []int {
		out := make([]int, len(lines))
		for i, l := range lines {
			n, ok := ids[l]
			if !ok {
				n = len(ids)
				ids[l] = n
			}
			out[i] = n
		}
		return out
	}
	return myers(id(x), id(y), maxDiffLines)
}

// splitLines cuts s after each newline.
func splitLines(s string) []string {
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// myers returns the pairs (i, j) of a longest common subsequence of x and
// y, in order, by Myers' O((N+M)D) algorithm; ok is false if it takes more
// than maxD deletions and insertions.
func myers(x, y []int, maxD int) (pairs [][2]int, ok bool) {
	n, m := len(x), len(y)
	maxD = min(maxD, n+m)
	off := maxD + 1
	v := make([]int, 2*maxD+3)
	var trace [][]int // v as it was before each round d
	for d := 0; d <= maxD; d++ {
		trace = append(trace, slices.Clone(v))
		for k := -d; k <= d; k += 2 {
			var i int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				i = v[off+k+1] // down: y[j-1] inserted
			} else {
				i = v[off+k-1] + 1 // right: x[i-1] deleted
			}
			j := i - k
			for i < n && j < m && x[i] == y[j] {
				i, j = i+1, j+1
			}
			v[off+k] = i
			if i >= n && j >= m {
				return backtrack(trace, off, n, m), true
			}
		}
	}
	return nil, false
}

// backtrack walks Myers' rounds back from (n, m) and returns the matched
// pairs in order.
func backtrack(trace [][]int, off, n, m int) [][2]int {
	var pairs [][2]int
	i, j := n, m
	for d := len(trace) - 1; d >= 0; d-- {
		si, sj := 0, 0 // where round d's snake starts
		pi, pj := 0, 0 // and where round d-1 ended
		if d > 0 {
			v, k := trace[d], i-j
			pk := k - 1
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				pk = k + 1
			}
			pi = v[off+pk]
			pj = pi - pk
			si, sj = pi+1, pj
			if pk == k+1 {
				si, sj = pi, pj+1
			}
		}
		for i > si && j > sj {
			i, j = i-1, j-1
			pairs = append(pairs, [2]int{i, j})
		}
		i, j = pi, pj
	}
	slices.Reverse(pairs)
	return pairs
}
