package lan

import (
	"testing"

	"consulate/metrics"
)

func TestCollect(t *testing.T) {
	p := start(t, testConfig("node77", "127.0.0.77", "dc1", false))
	got := map[string]float64{}
	p.Collect(func(name string, l metrics.Labels, v float64) {
		if l["network"] != "lan" || len(l) != 1 {
			t.Errorf("%s labels %v", name, l)
		}
		got[name] = v
	})
	if _, ok := got["consul.memberlist.health.score"]; !ok {
		t.Error("no health score")
	}
	if v, ok := got["consul.lan.members.failed"]; !ok || v != 0 {
		t.Errorf("failed members %v %v", v, ok)
	}
}
