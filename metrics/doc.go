// Package metrics keeps the agent's gauges and counters and renders them
// in the two shapes Consul's /v1/agent/metrics serves: its JSON summary
// (Gauges, Counters, Samples, Points) and, with ?format=prometheus, the
// Prometheus text exposition format.
//
// It is not a telemetry pipeline: no sinks, no intervals. Gauges that
// describe current state are filled at scrape time by collectors.
package metrics
