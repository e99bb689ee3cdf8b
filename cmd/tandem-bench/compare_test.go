package main

import "testing"

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
