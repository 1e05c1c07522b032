package main

import (
	"context"
	"flag"
	"net"
	"strings"
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

// A tuning flag reaches the pools' memberlist configuration through the
// agent's configuration code; unset keys keep the agent's defaults, and
// a value the agent would reject is rejected.
func TestTuningFlags(t *testing.T) {
	def, err := config.Load(config.LoadOpts{Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	parse := func(args ...string) string {
		fs := flag.NewFlagSet("scale", flag.ContinueOnError)
		addTuningFlags(fs, def)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return tuningSource(fs)
	}
	if src := parse(); src != "" {
		t.Fatalf("no flags: source %q", src)
	}
	src := parse("-suspicion-mult", "3", "-probe-interval", "800ms", "-wan-probe-timeout", "900ms")
	want := "gossip_lan { probe_interval = \"800ms\" suspicion_mult = 3 }\ngossip_wan { probe_timeout = \"900ms\" }"
	if src != want {
		t.Fatalf("source %q, want %q", src, want)
	}
	lanT, wanT, err := loadTuning(src)
	if err != nil {
		t.Fatal(err)
	}
	ml := lanConfig(lanOpts{Tuning: lanT}, 0).Gossip.Memberlist
	if ml.SuspicionMult != 3 || ml.ProbeInterval != 800*time.Millisecond || ml.ProbeTimeout != def.GossipLAN.ProbeTimeout {
		t.Fatalf("LAN memberlist: suspicion_mult %d, probe_interval %s, probe_timeout %s", ml.SuspicionMult, ml.ProbeInterval, ml.ProbeTimeout)
	}
	wml := wanConfig(wanOpts{Tuning: wanT}, 1, 1).Gossip.Memberlist
	if wml.ProbeTimeout != 900*time.Millisecond || wml.ProbeInterval != def.GossipWAN.ProbeInterval || wml.SuspicionMaxTimeoutMult != 2 {
		t.Fatalf("WAN memberlist: probe_timeout %s, probe_interval %s, max mult %d", wml.ProbeTimeout, wml.ProbeInterval, wml.SuspicionMaxTimeoutMult)
	}
	// memberlist's arithmetic: 3 × log10(1000) × 800ms, ×6 without the
	// one confirmation.
	tm := timersOf(ml, 1000)
	if tm.SuspicionMin != 7200*time.Millisecond || tm.SuspicionMax != 43200*time.Millisecond || tm.SuspicionConfirmations != 1 {
		t.Fatalf("timers at 1000: %+v", tm)
	}
	if _, _, err := loadTuning(parse("-probe-timeout", "0s")); err == nil || !strings.Contains(err.Error(), "gossip_lan.probe_timeout") {
		t.Fatalf("probe_timeout 0: %v", err)
	}
}
