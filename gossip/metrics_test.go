package gossip

import (
	"context"
	"testing"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/hashicorp/memberlist"

	"consulate/metrics"
)

// TestSerfMemberCounters: membership changes count under serf's names
// with the pool's labels; a member back within a minute of failing is a
// flap; the queue depths are sampled under serf.queue.*.
func TestSerfMemberCounters(t *testing.T) {
	r, err := metrics.New(metrics.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown(context.Background())

	cfg := testConfig("self", "127.0.14.30")
	cfg.Memberlist.MetricLabels = []gometrics.Label{{Name: "network", Value: "lan"}}
	p := newTestPool(t, cfg)
	p.handleNodeJoin(fakeNode(t, "x", memberlist.StateAlive))
	p.handleNodeLeave(fakeNode(t, "x", memberlist.StateDead))
	p.handleNodeJoin(fakeNode(t, "x", memberlist.StateAlive))
	p.handleNodeUpdate(fakeNode(t, "x", memberlist.StateAlive))
	p.handleNodeLeave(fakeNode(t, "x", memberlist.StateLeft))
	p.sampleQueues()

	got := map[string]int{}
	// Totals: every retained interval, so a 10s interval boundary during
	// the test neither splits nor hides the counts.
	counters, samples := r.Totals()
	for _, c := range counters {
		if c.Labels["network"] == "lan" {
			got[c.Name] += c.Count
		}
	}
	for _, c := range samples {
		if c.Labels["network"] == "lan" {
			got[c.Name] += c.Count
		}
	}
	// self joined too (>= below).
	for name, min := range map[string]int{
		"consul.serf.member.join": 2, "consul.serf.member.failed": 1, "consul.serf.member.flap": 1,
		"consul.serf.member.update": 1, "consul.serf.member.left": 1,
		"consul.serf.queue.Intent": 1, "consul.serf.queue.Event": 1, "consul.serf.queue.Query": 1,
	} {
		if got[name] < min {
			t.Errorf("%s counted %d, want at least %d (all: %v)", name, got[name], min, got)
		}
	}
}
