package gateway

import "consulate/metrics"

// Collect sets the gateway's gauges: spliced connections open, and per
// remote datacenter the number of next-hop gateways of its route and the
// route's RTT (labels datacenter and route: "direct" or "via DC"). It is
// a metrics.Collector. Requests are counted as they happen:
// consul.gateway.conns.local (spliced to a server of this datacenter),
// .forwarded (to another gateway) and .refused.
func (g *Gateway) Collect(set func(name string, labels metrics.Labels, value float64)) {
	set("consul.gateway.conns", nil, float64(g.stats.open.Load()))
	for _, r := range g.Routes() {
		route := "direct"
		if r.Via != "" {
			route = "via " + r.Via
		}
		l := metrics.Labels{"datacenter": r.DC, "route": route}
		set("consul.gateway.route.gateways", l, float64(len(r.Gateways)))
		if len(r.Gateways) > 0 && r.RTT > 0 {
			set("consul.gateway.route.rtt_ms", l, float64(r.RTT.Microseconds())/1000)
		}
	}
}
