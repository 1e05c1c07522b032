package agent

import "consulate/metrics"

// registerCollectors exports, on /v1/agent/metrics, the gauges each piece
// collects: Go runtime, the DNS cache's counts, gossip health, the server
// port's and RPC pool's bounds, and the router's WAN view (what
// `operator wan` shows).
func (a *Agent) registerCollectors() {
	a.metrics.AddCollector(metrics.CollectRuntime)
	a.metrics.AddCollector(a.cache.Collect)
	if a.views != nil {
		a.metrics.AddCollector(a.views.Collect)
	}
	a.metrics.AddCollector(a.lan.Collect)
	if a.wan != nil {
		a.metrics.AddCollector(a.wan.Collect)
	}
	if a.server != nil {
		a.metrics.AddCollector(a.server.CollectPort)
	}
	a.metrics.AddCollector(a.pool.Collect)
	if a.router != nil {
		a.metrics.AddCollector(a.router.Collect)
	}
}

func (a *Agent) metricsJSON() any { return a.metrics.Summary() }

func (a *Agent) metricsPrometheus() string { return a.metrics.Prometheus() }
