package server

import (
	"testing"

	"consulate/metrics"
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
