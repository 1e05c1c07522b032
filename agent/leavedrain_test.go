package agent

import (
	"context"
	"testing"
	"time"
)

// TestLeaveDrainTime: with performance.leave_drain_time a leaving server
// keeps serving that long after it left the LAN pool, then shuts down.
func TestLeaveDrainTime(t *testing.T) {
	a := startAgent(t, testOpts(t, "127.0.13.2", `, "performance": {"leave_drain_time": "700ms"}`), nil)
	if a.cfg.LeaveDrainTime != 700*time.Millisecond {
		t.Fatalf("LeaveDrainTime %s", a.cfg.LeaveDrainTime)
	}
	start := time.Now()
	if err := a.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 700*time.Millisecond {
		t.Fatalf("leave returned after %s, before the 700ms drain", d)
	}
}
