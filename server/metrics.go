package server

import (
	"context"
	"slices"

	gometrics "github.com/hashicorp/go-metrics"

	"consulate/metrics"
	"consulate/rpcmux"
	"consulate/structs"
)

// CollectPort sets the server port's gauges from PortStats: open and
// rejected connections, handshake timeouts, idle plain connections closed
// and rejected streams, and the subscriptions (streams) being served;
// on the leader also Consul's consul.session_ttl.active. It is a
// metrics.Collector.
func (s *Server) CollectPort(set func(name string, labels metrics.Labels, value float64)) {
	st := s.PortStats()
	set("consul.rpc.conns.open", nil, float64(st.Conns))
	set("consul.rpc.conns.rejected", nil, float64(st.ConnsRejected))
	set("consul.rpc.handshake.timeouts", nil, float64(st.HandshakeTimeouts))
	set("consul.rpc.plain.idle_closed", nil, float64(st.IdleClosed))
	set("consul.rpc.streams.rejected", nil, float64(st.StreamsRejected))
	set("consul.server.subscriptions", nil, float64(s.subscriptions.Load()))
	if s.IsLeader() {
		set("consul.session_ttl.active", nil, float64(s.sessions.active()))
	}
}

// active is the number of sessions with a TTL timer.
func (t *sessionTimers) active() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.timers)
}

// crossDC counts, as Consul's consul.rpc.cross-dc, every call and stream
// a server sends to another datacenter.
type crossDC struct{ Forwarder }

// countCrossDC wraps f; nil stays nil (a server without a WAN).
func countCrossDC(f Forwarder) Forwarder {
	if f == nil {
		return nil
	}
	return crossDC{f}
}

func countDC(dc structs.Datacenter) {
	gometrics.IncrCounterWithLabels([]string{"rpc", "cross-dc"}, 1, []gometrics.Label{{Name: "datacenter", Value: string(dc)}})
}

func (c crossDC) ForwardDC(ctx context.Context, dc structs.Datacenter, method structs.Method, args, reply any) error {
	countDC(dc)
	return c.Forwarder.ForwardDC(ctx, dc, method, args, reply)
}

func (c crossDC) StreamDC(ctx context.Context, dc structs.Datacenter, method structs.Method,
	args any, newFrame func() any, recv func(frame any) error) error {
	countDC(dc)
	return c.Forwarder.StreamDC(ctx, dc, method, args, newFrame, recv)
}

// RawReplies passes on whether the wrapped forwarder fills raw replies.
func (c crossDC) RawReplies() bool { return rawReplies(c.Forwarder) }

var _ rpcmux.RawReplier = crossDC{}

// FailoverOrder passes on the wrapped forwarder's order of datacenters
// for prepared query failover; without one the listed order stands.
func (c crossDC) FailoverOrder(nearestN int, listed []string) []string {
	if o, ok := c.Forwarder.(failoverOrderer); ok {
		return o.FailoverOrder(nearestN, listed)
	}
	return listed
}

var _ failoverOrderer = crossDC{}

// serviceQueried counts a service read as Consul does, once it answered:
// consul.<what>.service.query by service, .query-tags by service and
// tags, .not-found when nothing matched (what is "catalog" or "health").
func serviceQueried(what string, args *structs.ServiceSpecificRequest, found bool, err error) {
	if err != nil {
		return
	}
	svc := []gometrics.Label{{Name: "service", Value: args.ServiceName}}
	gometrics.IncrCounterWithLabels([]string{what, "service", "query"}, 1, svc)
	if args.TagFilter && len(args.ServiceTags) > 0 {
		tags := slices.Sorted(slices.Values(args.ServiceTags))
		labels := slices.Clone(svc)
		for _, t := range tags {
			labels = append(labels, gometrics.Label{Name: "tag", Value: t})
		}
		gometrics.IncrCounterWithLabels([]string{what, "service", "query-tags"}, 1, labels)
	}
	if !found {
		gometrics.IncrCounterWithLabels([]string{what, "service", "not-found"}, 1, svc)
	}
}
