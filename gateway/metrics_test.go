package gateway

import (
	"testing"

	"consulate/metrics"
)

func TestCollect(t *testing.T) {
	a, _, _, _ := twoDCs(t)
	got := map[string]float64{}
	labels := map[string]metrics.Labels{}
	a.Collect(func(name string, l metrics.Labels, v float64) {
		got[name] = v
		labels[name] = l
	})
	if v, ok := got["consul.gateway.conns"]; !ok || v != 0 {
		t.Errorf("conns gauge %v, %v", v, ok)
	}
	if got["consul.gateway.route.gateways"] != 1 || labels["consul.gateway.route.gateways"]["datacenter"] != "dc2" ||
		labels["consul.gateway.route.gateways"]["route"] != "direct" {
		t.Errorf("route gauges %v %v", got, labels)
	}
	if _, ok := got["consul.gateway.route.rtt_ms"]; !ok {
		t.Errorf("no rtt gauge: %v", got)
	}
}
