package main

import (
	"math"
	"testing"
	"time"
)

// TestLoadBetween: CPU per second of the window, the share of scheduler
// waits in buckets that start at about 1 ms or above, and the p99 bucket.
func TestLoadBetween(t *testing.T) {
	t0 := time.Now()
	bounds := []float64{1e-5, 1e-4, 0.00092, 0.0105, math.Inf(1)}
	a := cpuSample{at: t0, cpu: 10, bounds: bounds, counts: []uint64{100, 100, 100, 100, 100}}
	b := cpuSample{at: t0.Add(2 * time.Second), cpu: 11.5, bounds: bounds, counts: []uint64{800, 200, 100, 190, 110}}
	// Waits in the window: 700, 100, 0, 90, 10 (900 in all); over ~1 ms: 90+10.
	l := loadBetween(a, b, true)
	if math.Abs(l.Cores-0.75) > 1e-9 {
		t.Errorf("cores %v, want 0.75", l.Cores)
	}
	if math.Abs(l.WaitsOver1ms-100.0/900) > 1e-9 {
		t.Errorf("waits over 1 ms %v, want %v", l.WaitsOver1ms, 100.0/900)
	}
	if l.P99Ms != math.Inf(1) { // 891 of 900 are within 10.5 ms: the 99th percentile is in the last bucket
		t.Errorf("p99 %v ms, want +Inf (the last bucket)", l.P99Ms)
	}
	if l := loadBetween(a, cpuSample{at: t0.Add(time.Second), cpu: 10.5}, true); l.Cores != 0.5 || l.WaitsOver1ms != 0 {
		t.Errorf("without a histogram: %+v", l)
	}
	self := loadBetween(selfSample(), selfSample(), true)
	if self.Cores < 0 || self.WaitsOver1ms < 0 || self.WaitsOver1ms > 1 {
		t.Errorf("the process's own sample: %+v", self)
	}
}
