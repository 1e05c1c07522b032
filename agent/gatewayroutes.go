package agent

import (
	"context"

	"consulate/federation"
	"consulate/gateway"
)

// gatewayRoutes adapts a local gateway's routing table (routes is
// gateway.Dialer.Routes) to the router's seam for `operator wan` and the
// UI (federation.Config.GatewayRoutes). nil routes: nil, the server is
// not in gateway mode and every route shows as direct.
func gatewayRoutes(routes func(context.Context) ([]gateway.Route, error)) federation.GatewayRoutesFunc {
	if routes == nil {
		return nil
	}
	return func(ctx context.Context) ([]federation.GatewayRoute, error) {
		rs, err := routes(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]federation.GatewayRoute, 0, len(rs))
		for _, r := range rs {
			out = append(out, federation.GatewayRoute{DC: r.DC, Via: r.Via, Gateways: r.Gateways})
		}
		return out, nil
	}
}
