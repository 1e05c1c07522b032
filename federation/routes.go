package federation

import (
	"context"
	"time"
)

// How a server reaches a datacenter, as /v1/operator/wan and the UI show
// it (the Route field of their rows).
const (
	// RouteLocal: the server's own datacenter.
	RouteLocal = "local"
	// RouteDirect: the server dials the datacenter's servers itself (no
	// gateway mode).
	RouteDirect = "direct"
	// RouteGateway: through a local gateway that reaches a gateway of
	// the datacenter directly.
	RouteGateway = "gateway"
	// RouteViaPrefix starts "via dcX": through a local gateway and a
	// gateway of dcX, which reaches the datacenter.
	RouteViaPrefix = "via "
	// RouteNone: gateway mode, and the local gateway knows no way there.
	RouteNone = "none"
	// RouteUnknown: gateway mode, and the local gateway did not say (its
	// error is in RouteError).
	RouteUnknown = "unknown"
)

// GatewayRoute is one datacenter's route in a gateway's routing table.
type GatewayRoute struct {
	DC string
	// Via is the transit datacenter, "" when a gateway of DC is reached
	// directly.
	Via string
	// Gateways are the next-hop gateways, in order of preference.
	Gateways []string
	// LocalGateway is the local gateway whose table this is.
	LocalGateway string
}

// GatewayRoutesFunc asks a local gateway for its routing table; the
// agent sets Config.GatewayRoutes to one in gateway mode.
type GatewayRoutesFunc func(ctx context.Context) ([]GatewayRoute, error)

// RoutesTimeout bounds one GatewayRoutes call in HealthWithLeaders.
const RoutesTimeout = time.Second

// dcRoute is what a row shows of its route.
type dcRoute struct {
	route        string
	gateways     []string
	localGateway string
	err          string
}

// routeTable asks cfg.GatewayRoutes (when set) and returns each remote
// datacenter's route; nil means not in gateway mode (every route direct).
func (r *Router) routeTable(ctx context.Context) map[string]dcRoute {
	if r.cfg.GatewayRoutes == nil {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, RoutesTimeout)
	defer cancel()
	routes, err := r.cfg.GatewayRoutes(cctx)
	out := map[string]dcRoute{}
	if err != nil {
		// Every remote row says so (see routeOf).
		out[""] = dcRoute{route: RouteUnknown, err: err.Error()}
		return out
	}
	for _, rt := range routes {
		d := dcRoute{route: RouteGateway, gateways: rt.Gateways, localGateway: rt.LocalGateway}
		if rt.Via != "" {
			d.route = RouteViaPrefix + rt.Via
		}
		out[rt.DC] = d
	}
	return out
}

// routeOf is one datacenter's route in table (see routeTable).
func routeOf(table map[string]dcRoute, dc string, local bool) dcRoute {
	if local {
		return dcRoute{route: RouteLocal}
	}
	if table == nil {
		return dcRoute{route: RouteDirect}
	}
	if e, ok := table[""]; ok {
		return e
	}
	if d, ok := table[dc]; ok {
		return d
	}
	return dcRoute{route: RouteNone}
}

// setRoute fills a row's route fields.
func (h *DCHealthWithLeader) setRoute(d dcRoute) {
	h.Route, h.Gateways, h.LocalGateway, h.RouteError = d.route, d.gateways, d.localGateway, d.err
}
