package main

import (
	"context"
	"testing"
	"time"
)

func TestParseCPULine(t *testing.T) {
	c, err := parseCPULine("cpu  100 5 50 800 40 1 2 3 7 0")
	if err != nil {
		t.Fatal(err)
	}
	// guest (7) and guest_nice are in user already: not counted again.
	if c.total != 100+5+50+800+40+1+2+3 || c.idle != 840 {
		t.Fatalf("got %+v", c)
	}
	for _, bad := range []string{"", "intr 1 2 3", "cpu 1 2 x 4"} {
		if _, err := parseCPULine(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestSettle: on a machine that is not kept busy, settle returns; with a
// limit of 0 it returns after one sample either way.
func TestSettle(t *testing.T) {
	start := time.Now()
	busy, _ := settle(context.Background(), 0)
	if d := time.Since(start); d < settleSample || d > 5*settleSample {
		t.Errorf("one sample took %v", d)
	}
	if busy < 0 || busy > 1 {
		t.Errorf("busy share %v", busy)
	}
}
