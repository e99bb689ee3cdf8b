package main

import (
	"context"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A run on one machine shares its CPUs between the server and the load
// generator. Each reports the CPU it used over the measured window and how
// long its goroutines, ready to run, waited for a thread: when both are
// high, latency is the machine's, not the server's alone.

// procLoad is one process's CPU over the measured window.
type procLoad struct {
	Cores float64 `json:"cores"` // CPU seconds per second
	// WaitsOver1ms is the share of the scheduler's waits (a goroutine
	// ready to run, not yet running) that took over about 1 ms (the
	// server's coarse histogram: over 0.92 ms).
	WaitsOver1ms float64 `json:"sched_waits_over_1ms"`
	P99Ms        float64 `json:"sched_wait_p99_ms,omitempty"` // the generator's own only (the server's buckets are coarse)
}

// cpuSample is a process's CPU seconds and scheduler-wait histogram at a
// moment: bucket upper bounds in seconds, counts not cumulative.
type cpuSample struct {
	at     time.Time
	cpu    float64
	bounds []float64
	counts []uint64
}

var schedLatencies = []metrics.Sample{{Name: "/sched/latencies:seconds"}}

// selfSample samples the generator itself.
func selfSample() cpuSample {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	s := cpuSample{at: time.Now(), cpu: tvSeconds(ru.Utime) + tvSeconds(ru.Stime)}
	metrics.Read(schedLatencies)
	if v := schedLatencies[0].Value; v.Kind() == metrics.KindFloat64Histogram {
		h := v.Float64Histogram()
		s.bounds = h.Buckets[1:] // Buckets has one more than Counts: each count's upper bound follows
		s.counts = append([]uint64(nil), h.Counts...)
	}
	return s
}

func tvSeconds(tv syscall.Timeval) float64 { return float64(tv.Sec) + float64(tv.Usec)/1e6 }

// serverSample reads a server's process_cpu_seconds_total and (a Tandem
// node's) go_sched_latencies_seconds from /metrics; ok is false if it reports no
// CPU (or cannot be read).
func (a *api) serverSample(ctx context.Context) (s cpuSample, ok bool) {
	s.at = time.Now()
	var cum uint64
	err := a.eachMetric(ctx, func(line string) bool {
		if v, found := strings.CutPrefix(line, "process_cpu_seconds_total "); found {
			s.cpu, _ = strconv.ParseFloat(strings.TrimSpace(v), 64)
			ok = true
			return true
		}
		rest, found := strings.CutPrefix(line, `go_sched_latencies_seconds_bucket{le="`)
		if !found {
			return true
		}
		le, count, found := strings.Cut(rest, `"} `)
		if !found {
			return true
		}
		bound, err1 := strconv.ParseFloat(le, 64) // "+Inf" parses as +Inf
		n, err2 := strconv.ParseUint(strings.TrimSpace(count), 10, 64)
		if err1 == nil && err2 == nil && n >= cum {
			s.bounds, s.counts, cum = append(s.bounds, bound), append(s.counts, n-cum), n
		}
		return true
	})
	return s, ok && err == nil
}

// loadBetween is the CPU used and the scheduler's waits from a to b.
func loadBetween(a, b cpuSample, withP99 bool) procLoad {
	l := procLoad{}
	if d := b.at.Sub(a.at).Seconds(); d > 0 {
		l.Cores = (b.cpu - a.cpu) / d
	}
	if len(a.counts) != len(b.counts) || len(b.counts) != len(b.bounds) {
		return l
	}
	var total, over uint64
	diff := make([]uint64, len(b.counts))
	for i := range b.counts {
		diff[i] = b.counts[i] - a.counts[i]
		total += diff[i]
		if i > 0 && b.bounds[i-1] >= 0.0009 { // the bucket starts at about 1 ms or above
			over += diff[i]
		}
	}
	if total == 0 {
		return l
	}
	l.WaitsOver1ms = float64(over) / float64(total)
	if withP99 {
		var seen uint64
		for i, n := range diff {
			if seen += n; float64(seen) >= 0.99*float64(total) {
				l.P99Ms = b.bounds[i] * 1000
				break
			}
		}
	}
	return l
}
