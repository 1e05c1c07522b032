package agent

import (
	"strconv"

	"consulate/metrics"
)

// registerCollectors exports the gauges `operator wan` shows, plus gossip
// health, on /v1/agent/metrics.
func (a *Agent) registerCollectors() {
	a.metrics.AddCollector(func(set func(string, metrics.Labels, float64)) {
		if a.lan != nil {
			if v, err := strconv.Atoi(a.lan.Stats()["health_score"]); err == nil {
				set("consul.memberlist.health.score", metrics.Labels{"network": "lan"}, float64(v))
			}
			failed := 0
			for _, m := range a.lan.Members() {
				if m.Status.String() == "failed" {
					failed++
				}
			}
			set("consul.serf.member.failed", metrics.Labels{"network": "lan"}, float64(failed))
		}
		if a.wan != nil {
			if v, err := strconv.Atoi(a.wan.Stats()["health_score"]); err == nil {
				set("consul.memberlist.health.score", metrics.Labels{"network": "wan"}, float64(v))
			}
		}
		if a.router == nil {
			return
		}
		for _, h := range a.router.Health() {
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
	})
}

func (a *Agent) metricsJSON() any { return a.metrics.Summary() }

func (a *Agent) metricsPrometheus() string { return a.metrics.Prometheus() }
