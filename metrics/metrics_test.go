package metrics

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSummaryAndPrometheus(t *testing.T) {
	r := New()
	r.Incr("consul.rpc.cross-dc", Labels{"datacenter": "dc2"}, 1)
	r.Incr("consul.rpc.cross-dc", Labels{"datacenter": "dc2"}, 1)
	r.AddCollector(func(set func(string, Labels, float64)) {
		set("consul.memberlist.health.score", nil, 0)
		set("consul.serf.member.failed", Labels{"datacenter": "dc2"}, 3)
	})
	s := r.Summary()
	if len(s.Gauges) != 2 || len(s.Counters) != 1 || s.Counters[0].Count != 2 || s.Counters[0].Sum != 2 {
		t.Fatalf("summary %+v", s)
	}
	b, _ := json.Marshal(s)
	for _, want := range []string{`"Gauges"`, `"Counters"`, `"Samples":[]`, `"Points":[]`, `"Labels":{}`} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("JSON lacks %s: %s", want, b)
		}
	}
	p := r.Prometheus()
	for _, want := range []string{
		"# TYPE consul_serf_member_failed gauge",
		`consul_serf_member_failed{datacenter="dc2"} 3`,
		"consul_memberlist_health_score 0",
		`consul_rpc_cross_dc{datacenter="dc2"} 2`,
	} {
		if !strings.Contains(p, want) {
			t.Fatalf("prometheus text lacks %q:\n%s", want, p)
		}
	}
}
