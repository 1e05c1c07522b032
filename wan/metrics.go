package wan

import (
	"strconv"

	"consulate/metrics"
)

// Collect sets the WAN pool's memberlist health score (labelled
// network=wan). Failed members are counted per datacenter by the
// federation router. It is a metrics.Collector.
func (p *Pool) Collect(set func(name string, labels metrics.Labels, value float64)) {
	if v, err := strconv.Atoi(p.Stats()["health_score"]); err == nil {
		set("consul.memberlist.health.score", metrics.Labels{"network": "wan"}, float64(v))
	}
}
