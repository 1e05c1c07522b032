package federation

import "consulate/metrics"

// Collect sets the router's WAN gauges, per datacenter: servers alive and
// failed, flaps, cross-datacenter requests and errors, and the median RTT
// when known. It is a metrics.Collector.
func (r *Router) Collect(set func(name string, labels metrics.Labels, value float64)) {
	for _, h := range r.Health() {
		l := metrics.Labels{"datacenter": h.Datacenter}
		set("consul.wan.servers.alive", l, float64(h.Alive))
		set("consul.wan.servers.failed", l, float64(h.Failed))
		set("consul.serf.member.failed", metrics.Labels{"network": "wan", "datacenter": h.Datacenter}, float64(h.Failed))
		set("consul.serf.member.flap", l, float64(h.Flaps))
		set("consul.rpc.cross-dc", l, float64(h.Requests))
		set("consul.rpc.cross-dc.errors", l, float64(h.Errors))
		if h.MedianRTTKnown {
			set("consul.wan.rtt.median_ms", l, float64(h.MedianRTT.Microseconds())/1000)
		}
	}
}
