package rpcmux

import "consulate/metrics"

// Collect sets the pool's gauges: open sessions (all, and those of the
// blocking lane) and calls in flight. It is a metrics.Collector.
func (p *Pool) Collect(set func(name string, labels metrics.Labels, value float64)) {
	st := p.Stats()
	set("consul.rpc.pool.sessions", nil, float64(st.Sessions))
	set("consul.rpc.pool.sessions", metrics.Labels{"lane": "blocking"}, float64(st.BlockingSessions))
	set("consul.rpc.pool.calls", nil, float64(st.Calls))
}
