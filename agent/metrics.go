package agent

import (
	"net/http"

	"consulate/config"
	"consulate/metrics"
)

// metricsConfig is the telemetry stanza in the metrics package's terms.
func metricsConfig(t config.TelemetryRuntime) metrics.Config {
	mc := metrics.DefaultConfig()
	mc.Prefix = t.MetricsPrefix
	mc.DisableHostname = t.DisableHostname
	mc.FilterDefault = t.FilterDefault
	mc.AllowedPrefixes = t.AllowedPrefixes
	mc.BlockedPrefixes = t.BlockedPrefixes
	mc.PrometheusRetention = t.PrometheusRetentionTime
	mc.StatsdAddr = t.StatsdAddr
	mc.StatsiteAddr = t.StatsiteAddr
	mc.DogstatsdAddr = t.DogstatsdAddr
	mc.DogstatsdTags = t.DogstatsdTags
	mc.RetryFailedConnection = t.RetryFailedConnection
	return mc
}

// startMetrics builds the agent's sinks and joins the process's metrics
// global, before anything that emits (gossip, Raft) starts.
func (a *Agent) startMetrics() error {
	m, err := metrics.New(metricsConfig(a.cfg.Telemetry), a.base)
	if err != nil {
		return err
	}
	a.metrics = m
	return m.Start()
}

// registerCollectors exports the gauges each piece collects: the DNS
// cache's counts, gossip health, the server port's and RPC pool's
// bounds, and the router's WAN view (what `operator wan` shows). The Go
// runtime gauges come from go-metrics itself.
func (a *Agent) registerCollectors() {
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
	if a.gateway != nil {
		a.metrics.AddCollector(a.gateway.Collect)
	}
}

func (a *Agent) metricsJSON() any { return a.metrics.Summary() }

// metricsPrometheus is nil unless telemetry.prometheus_retention_time is
// positive (the HTTP API then answers as Consul does).
func (a *Agent) metricsPrometheus() http.Handler { return a.metrics.PrometheusHandler() }
