package federation

import "consulate/metrics"

// Collect sets the router's WAN gauges, per datacenter: servers alive and
// failed, flaps, cross-datacenter requests and errors since start, and
// the median RTT when known. It is a metrics.Collector. (Consul's
// counters consul.rpc.cross-dc and consul.serf.member.* are emitted as
// things happen, by the server and the gossip layer.)
func (r *Router) Collect(set func(name string, labels metrics.Labels, value float64)) {
	for _, h := range r.Health() {
		l := metrics.Labels{"datacenter": h.Datacenter}
		set("consul.wan.servers.alive", l, float64(h.Alive))
		set("consul.wan.servers.failed", l, float64(h.Failed))
		set("consul.wan.servers.flaps", l, float64(h.Flaps))
		set("consul.wan.rpc.requests", l, float64(h.Requests))
		set("consul.wan.rpc.errors", l, float64(h.Errors))
		if h.MedianRTTKnown {
			set("consul.wan.rtt.median_ms", l, float64(h.MedianRTT.Microseconds())/1000)
		}
	}
}
