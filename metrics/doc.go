// Package metrics is the agent's telemetry, built on
// github.com/hashicorp/go-metrics as Consul's is: each agent has an
// in-memory sink (the JSON of /v1/agent/metrics), a Prometheus sink when
// telemetry.prometheus_retention_time is positive (?format=prometheus),
// and statsd, statsite and dogstatsd sinks when their addresses are set.
//
// Code everywhere emits with go-metrics' package functions
// (gometrics.IncrCounterWithLabels, MeasureSinceWithLabels, …), the
// same global that raft and memberlist emit into, with keys that leave
// out the "consul" prefix. Install (done by New) points that global at a
// fanout; each Registry joins it on Start and leaves it on Shutdown, and
// applies its own prefix, hostname and filters, so several agents can
// share one process (in tests) and each keeps its own configuration.
// The price of the shared global: in such a process every agent sees the
// others' raft, memberlist and RPC metrics. Gauges that describe current
// state (collectors) and the Go runtime gauges are the agent's own.
//
// Names: names.go lists the metrics Consulate emits under Consul's names,
// with their type and help text (the Prometheus sink's definitions). A
// name has one type in Prometheus, so Consulate's own gauges stay off
// Consul's counter names: failed members are consul.lan.members.failed
// and consul.wan.servers.failed (consul.serf.member.failed counts
// failures), and the router's per-datacenter figures are
// consul.wan.servers.flaps and consul.wan.rpc.requests|errors
// (consul.serf.member.flap and consul.rpc.cross-dc are counters).
package metrics
