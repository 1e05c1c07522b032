package agent

import (
	"runtime"
	"strconv"

	"consulate/metrics"
)

// registerCollectors exports the gauges `operator wan` shows, gossip
// health, and the server port's and RPC pool's bounds on
// /v1/agent/metrics.
func (a *Agent) registerCollectors() {
	a.metrics.AddCollector(func(set func(string, metrics.Labels, float64)) {
		// Consul's runtime gauges, and the DNS cache's size (Consul's
		// agent cache reports consul.cache.entries_count).
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		set("consul.runtime.num_goroutines", metrics.Labels{}, float64(runtime.NumGoroutine()))
		set("consul.runtime.alloc_bytes", metrics.Labels{}, float64(ms.Alloc))
		set("consul.runtime.sys_bytes", metrics.Labels{}, float64(ms.Sys))
		set("consul.runtime.heap_objects", metrics.Labels{}, float64(ms.HeapObjects))
		if a.cache != nil {
			st := a.cache.Stats()
			set("consul.cache.entries_count", metrics.Labels{}, float64(st.Entries))
			set("consul.dns.cache.negative_entries", metrics.Labels{}, float64(st.Negative))
			set("consul.dns.cache.recent_names", metrics.Labels{}, float64(st.Recent))
		}
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
		if a.server != nil {
			st := a.server.PortStats()
			set("consul.rpc.conns.open", nil, float64(st.Conns))
			set("consul.rpc.conns.rejected", nil, float64(st.ConnsRejected))
			set("consul.rpc.handshake.timeouts", nil, float64(st.HandshakeTimeouts))
			set("consul.rpc.plain.idle_closed", nil, float64(st.IdleClosed))
			set("consul.rpc.streams.rejected", nil, float64(st.StreamsRejected))
		}
		if a.pool != nil {
			st := a.pool.Stats()
			set("consul.rpc.pool.sessions", nil, float64(st.Sessions))
			set("consul.rpc.pool.sessions", metrics.Labels{"lane": "blocking"}, float64(st.BlockingSessions))
			set("consul.rpc.pool.calls", nil, float64(st.Calls))
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
