package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// The comparison runs every server's scenarios one after another on one
// machine. A server still working off the last run's backlog (ShareDB,
// overloaded, goes on sending for seconds after its clients have gone)
// would take CPU from the next server's run. Before each run, compare
// waits until the machine is quiet.

// quietBusy is the share of all CPUs in use below which the machine counts
// as quiet; settleSample is how long each look at it lasts.
const (
	quietBusy    = 0.15
	settleSample = 500 * time.Millisecond
)

// settle waits, up to limit, until the machine's CPUs are less than
// quietBusy in use over a sample; it returns the last share seen and
// whether it settled. Where /proc/stat cannot be read it returns at once.
func settle(ctx context.Context, limit time.Duration) (busy float64, ok bool) {
	deadline := time.Now().Add(limit)
	for {
		a, err := cpuTimes()
		if err != nil {
			return 0, true
		}
		select {
		case <-ctx.Done():
			return busy, false
		case <-time.After(settleSample):
		}
		b, err := cpuTimes()
		if err != nil {
			return 0, true
		}
		if total := b.total - a.total; total > 0 {
			busy = 1 - float64(b.idle-a.idle)/float64(total)
		}
		if busy < quietBusy {
			return busy, true
		}
		if time.Now().After(deadline) {
			return busy, false
		}
	}
}

// cpuClock is the machine's CPU time so far, in clock ticks: all of it,
// and the idle part (idle and waiting for I/O).
type cpuClock struct{ total, idle uint64 }

// cpuTimes reads the first line of /proc/stat.
func cpuTimes() (cpuClock, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuClock{}, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return parseCPULine(line)
}

// parseCPULine reads "cpu  user nice system idle iowait irq softirq steal ...".
func parseCPULine(line string) (cpuClock, error) {
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return cpuClock{}, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var c cpuClock
	for i, s := range f[1:] {
		if i >= 8 { // guest time is counted in user time already
			break
		}
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return cpuClock{}, fmt.Errorf("/proc/stat: %q: %w", line, err)
		}
		c.total += v
		if i == 3 || i == 4 { // idle, iowait
			c.idle += v
		}
	}
	return c, nil
}
