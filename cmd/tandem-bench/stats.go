package main

import (
	"math"
	"slices"
	"sync"
	"time"
)

// latencies collects durations and summarises them. Safe for concurrent use.
type latencies struct {
	mu      sync.Mutex
	samples []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.samples = append(l.samples, d)
	l.mu.Unlock()
}

func (l *latencies) reset() {
	l.mu.Lock()
	l.samples = l.samples[:0]
	l.mu.Unlock()
}

// summary is what a run reports of one latency.
type summary struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

func (l *latencies) summary() summary {
	l.mu.Lock()
	s := slices.Clone(l.samples)
	l.mu.Unlock()
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	if len(s) == 0 {
		return summary{}
	}
	return summary{Count: len(s), P50: ms(percentile(s, 50)), P95: ms(percentile(s, 95)), P99: ms(percentile(s, 99)), Max: ms(s[len(s)-1])}
}

// p99 is summary().P99 without sorting every sample: the progress line
// asks for it each second, and a closed loop gathers a million samples.
func (l *latencies) p99() float64 {
	l.mu.Lock()
	s := slices.Clone(l.samples)
	l.mu.Unlock()
	if len(s) == 0 {
		return 0
	}
	rank := int(math.Ceil(0.99 * float64(len(s))))
	return float64(nth(s, max(rank, 1)-1).Microseconds()) / 1000
}

// nth returns what s[k] would be were s sorted, and leaves s in some order
// (Hoare's selection: partition around a pivot, go on in the side holding k).
func nth(s []time.Duration, k int) time.Duration {
	lo, hi := 0, len(s)-1
	for lo < hi {
		// The median of three for a pivot.
		a, b, c := s[lo], s[lo+(hi-lo)/2], s[hi]
		p := max(min(a, b), min(max(a, b), c))
		i, j := lo, hi
		for i <= j {
			for s[i] < p {
				i++
			}
			for s[j] > p {
				j--
			}
			if i <= j {
				s[i], s[j] = s[j], s[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return s[k] // between j and i: equal to the pivot
		}
	}
	return s[k]
}

// percentile returns the p-th percentile of sorted samples by the
// nearest-rank method: the smallest value with at least p% of samples at or
// below it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}
