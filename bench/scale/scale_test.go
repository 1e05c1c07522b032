package main

import (
	"context"
	"net"
	"testing"
	"time"

	"consulate/config"
	"consulate/gossip"
)

// sink is shared: go-metrics' global is one per process.
var sink = installSink()

func testTuning(t *testing.T) (lanT, wanT gossip.Tuning) {
	t.Helper()
	rt, err := config.Load(config.LoadOpts{Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	return gossip.Tuning(rt.GossipLAN), gossip.Tuning(rt.GossipWAN)
}

// The harness end to end at small size, with the agent's real timers:
// 20 LAN members, 3 DCs × 2 servers. Ports differ from the program's
// defaults so that a bench run on the same addresses does not collide.
func TestLANSmall(t *testing.T) {
	t.Parallel()
	lanT, _ := testTuning(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := runLAN(ctx, lanOpts{N: 20, Seeds: 3, Kill: 2, Base: net.ParseIP("127.100.0.0"), Port: 18301,
		Steady: time.Second, PhaseTimeout: 30 * time.Second, Tuning: lanT, Log: t.Logf}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if res.ConvergeFromFirst <= 0 || res.NewMemberKnownAll <= 0 || res.Killed != 2 {
		t.Fatalf("result %+v", res)
	}
	if res.DetectAllMax < res.DetectAllMedian || res.DetectAllMedian < res.DetectFirstMedian || res.DetectFirstMedian <= 0 {
		t.Fatalf("detection times out of order: %+v", res)
	}
	if res.Steady.BytesPerSecMean <= 0 || res.Steady.CPUPerMemberMillis < 0 {
		t.Fatalf("steady window %+v", res.Steady)
	}
	t.Logf("false failures %d, suspicions %d", res.FalseFailures, res.Suspicions)
}

func TestWANSmall(t *testing.T) {
	t.Parallel()
	_, wanT := testTuning(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := runWAN(ctx, wanOpts{DCs: 3, Servers: 2, Base: net.ParseIP("127.101.0.0"), Port: 18302,
		Steady: time.Second, PhaseTimeout: 30 * time.Second, Tuning: wanT, Log: t.Logf}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if res.NewDCAliveAll <= 0 || res.NewDCKnownAll > res.NewDCAliveAll || res.DeadDCAll <= 0 || res.DeadDCFirst > res.DeadDCAll {
		t.Fatalf("result %+v", res)
	}
	if res.Steady.BytesPerSecMean <= 0 {
		t.Fatalf("steady window %+v", res.Steady)
	}
}

// Loss drops about the asked fraction of packets and counts them; a soak
// of a few seconds reports its window.
// The soak's pool grows in batches of 3 (-join-batch).
func TestSoakSmall(t *testing.T) {
	t.Parallel()
	lanT, _ := testTuning(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := runLAN(ctx, lanOpts{N: 10, Seeds: 2, Base: net.ParseIP("127.100.0.0"), Port: 18303,
		PhaseTimeout: 30 * time.Second, Tuning: lanT, JoinBatch: 3, Soak: 3 * time.Second, Loss: 0.2, Log: t.Logf}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if res.DroppedPackets == 0 || res.SoakSeconds < 3 {
		t.Fatalf("soak %+v", res)
	}
}
