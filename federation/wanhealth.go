package federation

import (
	"context"
	"time"

	"consulate/structs"
)

// RPCFunc sends one call through the agent's RPC path (on a server: the
// server itself, which forwards to other datacenters through the Router).
type RPCFunc func(ctx context.Context, method structs.Method, args, reply any) error

// LeaderAskTimeout bounds the Status.Leader call HealthWithLeaders makes
// to each datacenter.
const LeaderAskTimeout = time.Second

// DCHealthWithLeader is one datacenter in /v1/operator/wan: the router's
// view plus whether the datacenter answered with a leader.
type DCHealthWithLeader struct {
	DCHealth
	HasLeader bool
	// Route is how this server reaches the datacenter: "local" (its
	// own), "direct",
	// "gateway", "via dcX", or in gateway mode "none" (no route) and
	// "unknown" (the local gateway did not answer; RouteError says why).
	Route string
	// Gateways are the next-hop gateways of the route, in order.
	Gateways []string `json:",omitempty"`
	// LocalGateway is the local gateway whose routing table gave Route
	// (gateway mode).
	LocalGateway string `json:",omitempty"`
	RouteError   string `json:",omitempty"`
}

// HealthWithLeaders is Health plus, for each datacenter, whether it
// answers Status.Leader with a leader, asked through rpc in parallel with
// LeaderAskTimeout each, and its route (Config.GatewayRoutes, asked once
// with RoutesTimeout meanwhile). A datacenter that fails or does not
// answer in time has HasLeader false.
func (r *Router) HealthWithLeaders(ctx context.Context, rpc RPCFunc) []DCHealthWithLeader {
	out, _ := r.healthWithLeaders(ctx, rpc)
	return out
}

// healthWithLeaders is HealthWithLeaders, also returning the route table
// it used (for leaderAsks to reuse).
func (r *Router) healthWithLeaders(ctx context.Context, rpc RPCFunc) ([]DCHealthWithLeader, map[string]dcRoute) {
	rows := r.Health()
	out := make([]DCHealthWithLeader, len(rows))
	routes := make(chan map[string]dcRoute, 1)
	go func() { routes <- r.routeTable(ctx) }()
	done := make(chan struct{}, len(rows))
	for i, h := range rows {
		out[i].DCHealth = h
		go func(i int, dc string) {
			defer func() { done <- struct{}{} }()
			cctx, cancel := context.WithTimeout(ctx, LeaderAskTimeout)
			defer cancel()
			var leader string
			if err := rpc(cctx, structs.MethodStatusLeader, &structs.EmptyRequest{Datacenter: dc}, &leader); err == nil {
				out[i].HasLeader = leader != ""
			}
		}(i, h.Datacenter)
	}
	for range rows {
		<-done
	}
	table := <-routes
	for i := range out {
		out[i].setRoute(routeOf(table, out[i].Datacenter, out[i].Local))
	}
	return out, table
}
