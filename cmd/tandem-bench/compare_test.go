package main

import (
	"io"
	"testing"
	"time"
)

func TestCompareFormats(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999.4: "999", 1000: "1,000", 1234567: "1,234,567", -20000: "-20,000"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
	if _, err := pickScenarios("typing,nope"); err == nil {
		t.Error("an unknown scenario was accepted")
	}
	sc, err := pickScenarios(" room-1000 ")
	if err != nil || len(sc) != 1 || sc[0].load.editors != 1000 || sc[0].load.duration.Seconds() != 60 {
		t.Errorf("room-1000: %+v %v", sc, err)
	}
	rs := []*result{{OpsPerSec: 10, Converged: true}, {OpsPerSec: 30, Converged: false}, {OpsPerSec: 20, Converged: true}}
	if got := cell(scenario{show: "throughput"}, rs); got != "**20 ops/s** (ack p99 0.0 ms), 1 of 3 runs did not converge" {
		t.Errorf("cell: %q", got)
	}
}

// TestConfigArgs checks that a config's flags give the config back: compare
// runs each benchmark in a process of its own, from those flags.
func TestConfigArgs(t *testing.T) {
	for _, c := range []config{
		{target: "tandem", url: "http://127.0.0.1:18080", docs: 1000, editors: 3, full: 20, rate: 1, duration: 10 * time.Second, warmup: 3 * time.Second, seed: 2, connectPar: 64},
		{target: "sharedb", url: "ws://127.0.0.1:18090", docs: 1, editors: 64, full: 5, idle: 7, users: 9, duration: 1500 * time.Millisecond, warmup: time.Second, seed: 3, connectPar: 8, jsonOut: true, allowRemote: true, cpuProfile: "/tmp/x.prof"},
		{target: "tandem", url: "http://a,http://b", docs: 2, editors: 5, rate: 0.25, duration: time.Minute, warmup: 0, seed: 1, connectPar: 1},
	} {
		fs, got := configFlags(io.Discard)
		if err := fs.Parse(c.args()); err != nil {
			t.Fatalf("%v: %v", c.args(), err)
		}
		if *got != c {
			t.Errorf("flags %v give %+v, want %+v", c.args(), *got, c)
		}
	}
}
