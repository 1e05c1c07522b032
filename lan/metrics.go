package lan

import (
	"strconv"

	"consulate/metrics"
	"consulate/structs"
)

// Collect sets the LAN pool's memberlist health score and its count of
// failed members (both labelled network=lan). It is a metrics.Collector.
// (consul.serf.member.failed is Consul's counter of failures, emitted by
// the gossip layer as they happen.)
func (p *Pool) Collect(set func(name string, labels metrics.Labels, value float64)) {
	if v, err := strconv.Atoi(p.Stats()["health_score"]); err == nil {
		set("consul.memberlist.health.score", metrics.Labels{"network": "lan"}, float64(v))
	}
	failed := 0
	for _, m := range p.Members() {
		if m.Status == structs.StatusFailed {
			failed++
		}
	}
	set("consul.lan.members.failed", metrics.Labels{"network": "lan"}, float64(failed))
}
