package main

import (
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
