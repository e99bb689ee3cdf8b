package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {95, 95 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}, {0.5, time.Millisecond}} {
		if got := percentile(s, tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if percentile(nil, 50) != 0 {
		t.Error("percentile of nothing")
	}
	one := []time.Duration{7 * time.Millisecond}
	if percentile(one, 99) != 7*time.Millisecond {
		t.Error("one sample")
	}
}

func TestSummary(t *testing.T) {
	var l latencies
	if (l.summary() != summary{}) {
		t.Error("empty summary")
	}
	for _, ms := range []int{5, 1, 3, 2, 4} {
		l.add(time.Duration(ms) * time.Millisecond)
	}
	s := l.summary()
	if s.Count != 5 || s.P50 != 3 || s.Max != 5 || s.P99 != 5 {
		t.Errorf("summary = %+v", s)
	}
	l.reset()
	if l.summary().Count != 0 {
		t.Error("reset kept samples")
	}
}

// TestP99 checks the p99 found by selection against summary's, which sorts.
func TestP99(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for n := range 300 {
		var l latencies
		for range n {
			// Few distinct values at some sizes: many equal to the pivot.
			l.add(time.Duration(rng.IntN(1+n%7*1000)) * time.Microsecond)
		}
		if got, want := l.p99(), l.summary().P99; got != want {
			t.Fatalf("%d samples: p99 %v, want %v", n, got, want)
		}
	}
	s := []time.Duration{5, 3, 9, 1, 7, 3, 3}
	for k, want := range []time.Duration{1, 3, 3, 3, 5, 7, 9} {
		if got := nth(slices.Clone(s), k); got != want {
			t.Errorf("nth %d = %v, want %v", k, got, want)
		}
	}
}
