package metrics

import (
	"strings"

	gmprom "github.com/hashicorp/go-metrics/prometheus"
)

// Kind is a metric's type.
type Kind int

// The three kinds go-metrics has; a timer is a Summary.
const (
	KindGauge Kind = iota
	KindCounter
	KindSummary
)

// Name is one metric Consulate emits under Consul's name (without the
// prefix), with its kind and what it means.
type Name struct {
	Key  string
	Kind Kind
	Help string
}

// Names lists the metrics Consulate emits under Consul's names and its
// own. Raft, memberlist and raft-boltdb emit more than are listed; the
// list gives the Prometheus format its types and help text and makes the
// metrics appear before their first value, as in Consul.
var Names = []Name{
	// Go runtime (go-metrics).
	{"runtime.num_goroutines", KindGauge, "Number of running goroutines."},
	{"runtime.alloc_bytes", KindGauge, "Bytes of allocated heap objects."},
	{"runtime.sys_bytes", KindGauge, "Bytes of memory obtained from the OS."},
	{"runtime.malloc_count", KindGauge, "Cumulative count of heap objects allocated."},
	{"runtime.free_count", KindGauge, "Cumulative count of heap objects freed."},
	{"runtime.heap_objects", KindGauge, "Number of allocated heap objects."},
	{"runtime.total_gc_pause_ns", KindGauge, "Cumulative nanoseconds in GC stop-the-world pauses."},
	{"runtime.total_gc_runs", KindGauge, "Number of completed GC cycles."},
	{"runtime.gc_pause_ns", KindSummary, "Nanoseconds of each GC stop-the-world pause."},

	// Raft (hashicorp/raft).
	{"raft.apply", KindCounter, "Raft transactions applied by the leader."},
	{"raft.commitTime", KindSummary, "Time to commit a new entry to the Raft log on the leader (ms)."},
	{"raft.leader.lastContact", KindSummary, "Time since the leader last heard from each follower (ms)."},
	{"raft.state.leader", KindCounter, "Times this server became leader."},
	{"raft.state.candidate", KindCounter, "Times this server started an election."},
	{"raft.state.follower", KindCounter, "Times this server became a follower."},
	{"raft.fsm.apply", KindSummary, "Time to apply a log entry to the FSM (ms)."},

	// RPC (server).
	{"rpc.request", KindCounter, "RPC requests a server received."},
	{"rpc.request_error", KindCounter, "RPC requests a server answered with an error."},
	{"rpc.query", KindCounter, "Read RPC requests a server received (counted when each query starts)."},
	{"rpc.queries_blocking", KindGauge, "Blocking queries in flight on this server."},
	{"rpc.cross-dc", KindCounter, "RPC requests a server sent to another datacenter."},
	{"client.rpc", KindCounter, "RPC requests this agent sent to a server."},
	{"client.rpc.failed", KindCounter, "RPC requests this agent sent to a server that failed."},

	// HTTP API.
	{"api.http", KindSummary, "Time to serve an HTTP request, by method and path (ms)."},

	// DNS.
	{"dns.domain_query", KindSummary, "Time to answer a DNS query in the consul domain (ms)."},
	{"dns.ptr_query", KindSummary, "Time to answer a reverse DNS lookup (ms)."},
	{"dns.stale_queries", KindCounter, "DNS answers served stale beyond max_stale."},

	// Gossip (Consulate's serf-like layer on memberlist).
	{"serf.member.join", KindCounter, "Members that joined (or came back), by network."},
	{"serf.member.left", KindCounter, "Members that left, by network."},
	{"serf.member.failed", KindCounter, "Members marked failed, by network."},
	{"serf.member.update", KindCounter, "Member updates (tags, address), by network."},
	{"serf.member.flap", KindCounter, "Members that failed and came back within a minute, by network."},
	{"serf.queue.Intent", KindSummary, "Queued join and leave intents, sampled periodically."},
	{"serf.queue.Event", KindSummary, "Queued user events, sampled periodically."},
	{"serf.queue.Query", KindSummary, "Queued queries, sampled periodically."},
	{"memberlist.health.score", KindGauge, "Memberlist's local health score (0 is healthy)."},

	// State store writes (server).
	{"catalog.register", KindSummary, "Time to complete a catalog register (ms)."},
	{"catalog.deregister", KindSummary, "Time to complete a catalog deregister (ms)."},
	{"catalog.service.query", KindCounter, "Catalog reads of a service's nodes, by service."},
	{"catalog.service.query-tags", KindCounter, "Catalog reads of a service's nodes filtered by tags, by service and tags."},
	{"catalog.service.not-found", KindCounter, "Catalog reads of a service that found no nodes, by service."},
	{"health.service.query", KindCounter, "Health reads of a service's instances, by service."},
	{"health.service.query-tags", KindCounter, "Health reads of a service's instances filtered by tags, by service and tags."},
	{"health.service.not-found", KindCounter, "Health reads of a service that found no instances, by service."},
	{"kvs.apply", KindSummary, "Time to complete a KV store update (ms)."},
	{"txn.apply", KindSummary, "Time to apply a transaction (ms)."},
	{"session.apply", KindSummary, "Time to apply a session operation (ms)."},
	{"session_ttl.active", KindGauge, "Sessions with a TTL the leader is tracking."},
	{"session_ttl.invalidate", KindSummary, "Time to invalidate an expired session (ms)."},

	// Autopilot (server; emitted by the operator code).
	{"autopilot.healthy", KindGauge, "1 when every server is healthy, else 0."},
	{"autopilot.failure_tolerance", KindGauge, "Servers that can fail without losing quorum."},

	// Consulate's own gauges.
	{"wan.servers.alive", KindGauge, "Alive servers per remote datacenter, as this server's router sees them."},
	{"wan.servers.failed", KindGauge, "Failed servers per remote datacenter."},
	{"wan.servers.flaps", KindGauge, "Server flaps per remote datacenter seen by the router."},
	{"wan.rpc.requests", KindGauge, "Requests this server forwarded to each datacenter since start."},
	{"wan.rpc.errors", KindGauge, "Forwarded requests to each datacenter that failed since start."},
	{"wan.rtt.median_ms", KindGauge, "Median round-trip time to each datacenter's servers (ms)."},
	{"lan.members.failed", KindGauge, "LAN members currently failed."},

	// Federation gateway (gateway.enabled).
	{"gateway.conns", KindGauge, "Connections the gateway is splicing now."},
	{"gateway.conns.local", KindCounter, "Connections the gateway spliced to a server of its datacenter."},
	{"gateway.conns.forwarded", KindCounter, "Connections the gateway spliced to a gateway of another datacenter."},
	{"gateway.conns.refused", KindCounter, "Requests the gateway refused or dropped."},
	{"gateway.route.gateways", KindGauge, "Next-hop gateways of the route to each datacenter (label route: direct or via DC)."},
	{"gateway.route.rtt_ms", KindGauge, "Round-trip time along the route to each datacenter (ms)."},
}

// prometheusDefinitions turns Names into the Prometheus sink's
// definitions under prefix.
func prometheusDefinitions(prefix string) ([]gmprom.GaugeDefinition, []gmprom.SummaryDefinition, []gmprom.CounterDefinition) {
	var (
		gs []gmprom.GaugeDefinition
		ss []gmprom.SummaryDefinition
		cs []gmprom.CounterDefinition
	)
	for _, n := range Names {
		// No empty leading element for an empty prefix: go-metrics would
		// flatten it into a phantom "_key" family.
		var key []string
		if prefix != "" {
			key = append(key, prefix)
		}
		key = append(key, strings.Split(n.Key, ".")...)
		switch n.Kind {
		case KindGauge:
			gs = append(gs, gmprom.GaugeDefinition{Name: key, Help: n.Help})
		case KindCounter:
			cs = append(cs, gmprom.CounterDefinition{Name: key, Help: n.Help})
		case KindSummary:
			ss = append(ss, gmprom.SummaryDefinition{Name: key, Help: n.Help})
		}
	}
	return gs, ss, cs
}
