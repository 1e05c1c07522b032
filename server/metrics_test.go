package server

import (
	"context"
	"testing"

	"consulate/metrics"
	"consulate/structs"
)

func TestCollectPortWithoutPort(t *testing.T) {
	s := &Server{}
	got := map[string]float64{}
	s.CollectPort(func(name string, l metrics.Labels, v float64) {
		if l != nil {
			t.Errorf("%s labels %v", name, l)
		}
		got[name] = v
	})
	for _, n := range []string{"consul.rpc.conns.open", "consul.rpc.conns.rejected", "consul.rpc.handshake.timeouts",
		"consul.rpc.plain.idle_closed", "consul.rpc.streams.rejected", "consul.server.subscriptions"} {
		if v, ok := got[n]; !ok || v != 0 {
			t.Errorf("%s = %v (%v)", n, v, ok)
		}
	}
	if len(got) != 6 {
		t.Errorf("gauges %v", got)
	}
}

// fwdStub is a Forwarder that answers everything with nil.
type fwdStub struct{}

func (fwdStub) ForwardDC(context.Context, structs.Datacenter, structs.Method, any, any) error {
	return nil
}
func (fwdStub) KnownDatacenters() []string { return nil }
func (fwdStub) StreamDC(context.Context, structs.Datacenter, structs.Method, any, func() any, func(any) error) error {
	return nil
}
func (fwdStub) FailoverOrder(_ int, listed []string) []string {
	return append([]string{"dc9"}, listed...)
}

// TestCrossDCCounted: every call and stream to another datacenter counts
// in consul.rpc.cross-dc with its datacenter, and the wrapper keeps the
// forwarder's failover order.
func TestCrossDCCounted(t *testing.T) {
	r, err := metrics.New(metrics.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown(context.Background())
	if countCrossDC(nil) != nil {
		t.Fatal("nil forwarder wrapped")
	}
	f := countCrossDC(fwdStub{})
	f.ForwardDC(context.Background(), "dc7", structs.MethodKVSGet, nil, nil)
	f.StreamDC(context.Background(), "dc7", structs.MethodKVSGet, nil, nil, nil)
	if got := f.(failoverOrderer).FailoverOrder(1, []string{"dc2"}); len(got) != 2 || got[0] != "dc9" {
		t.Errorf("failover order %v", got)
	}
	var n int
	// Totals: every retained interval, so a 10s interval boundary during
	// the test neither splits nor hides the counts.
	counters, _ := r.Totals()
	for _, c := range counters {
		if c.Name == "consul.rpc.cross-dc" && c.Labels["datacenter"] == "dc7" {
			n += c.Count
		}
	}
	if n < 2 {
		t.Errorf("consul.rpc.cross-dc{datacenter=dc7} counted %d times, want 2", n)
	}
}
