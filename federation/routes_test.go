package federation

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"consulate/structs"
)

// routesRouter is a router of dc1 knowing dc1-dc4, with routes as its
// GatewayRoutes (nil: not in gateway mode).
func routesRouter(t *testing.T, routes GatewayRoutesFunc) *Router {
	t.Helper()
	cfg := DefaultConfig()
	cfg.LocalDC = "dc1"
	cfg.GatewayRoutes = routes
	r, err := New(cfg, &fakeCaller{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, dc := range []string{"dc1", "dc2", "dc3", "dc4"} {
		addDC(r, dc, 1, structs.StatusAlive)
	}
	return r
}

// leaderRPC answers Status.Leader for every datacenter.
func leaderRPC(ctx context.Context, m structs.Method, args, reply any) error {
	*(reply.(*string)) = "leader:8300"
	return nil
}

type routeRow struct {
	Route      string
	Gateways   []string
	RouteError string
}

func routesByDC(rows []DCHealthWithLeader) map[string]routeRow {
	out := map[string]routeRow{}
	for _, r := range rows {
		out[r.Datacenter] = routeRow{r.Route, r.Gateways, r.RouteError}
	}
	return out
}

// TestHealthRoutesDirectWithoutGatewayMode: no GatewayRoutes, every
// other datacenter is reached directly; the own one is "local".
func TestHealthRoutesDirectWithoutGatewayMode(t *testing.T) {
	r := routesRouter(t, nil)
	got := routesByDC(r.HealthWithLeaders(context.Background(), leaderRPC))
	if got["dc1"].Route != RouteLocal {
		t.Fatalf("dc1: %+v, want local", got["dc1"])
	}
	for _, dc := range []string{"dc2", "dc3", "dc4"} {
		if got[dc].Route != RouteDirect || got[dc].Gateways != nil {
			t.Fatalf("%s: %+v, want direct", dc, got[dc])
		}
	}
}

// TestHealthRoutesFromGateway: in gateway mode each remote datacenter
// shows the local gateway's route to it ("gateway", "via dcX", or
// "none" when it has none); the local one is direct.
func TestHealthRoutesFromGateway(t *testing.T) {
	var calls int
	var mu sync.Mutex
	r := routesRouter(t, func(ctx context.Context) ([]GatewayRoute, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		if _, ok := ctx.Deadline(); !ok {
			t.Error("routes asked without a deadline")
		}
		return []GatewayRoute{
			{DC: "dc2", Gateways: []string{"127.0.33.21:8443", "127.0.33.22:8443"}, LocalGateway: "127.0.33.20:8443"},
			{DC: "dc3", Via: "dc2", Gateways: []string{"127.0.33.21:8443"}, LocalGateway: "127.0.33.20:8443"},
		}, nil
	})
	rows := r.HealthWithLeaders(context.Background(), leaderRPC)
	want := map[string]routeRow{
		"dc1": {Route: "local"},
		"dc2": {Route: "gateway", Gateways: []string{"127.0.33.21:8443", "127.0.33.22:8443"}},
		"dc3": {Route: "via dc2", Gateways: []string{"127.0.33.21:8443"}},
		"dc4": {Route: "none"},
	}
	if got := routesByDC(rows); !reflect.DeepEqual(got, want) {
		t.Fatalf("routes %+v\nwant %+v", got, want)
	}
	if calls != 1 {
		t.Fatalf("routes asked %d times for one view, want once", calls)
	}
	// The JSON of /v1/operator/wan carries Route, Gateways and the local
	// gateway whose table it is.
	b, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, `"Route":"via dc2","Gateways":["127.0.33.21:8443"],"LocalGateway":"127.0.33.20:8443"`) {
		t.Fatalf("json %s", s)
	}
}

// TestHealthRoutesGatewayFails: a failing or silent local gateway makes
// every remote route "unknown" with the reason, within RoutesTimeout.
func TestHealthRoutesGatewayFails(t *testing.T) {
	for name, f := range map[string]GatewayRoutesFunc{
		"error": func(ctx context.Context) ([]GatewayRoute, error) {
			return nil, errors.New("no alive local gateway")
		},
		"hangs": func(ctx context.Context) ([]GatewayRoute, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := routesRouter(t, f)
			start := time.Now()
			got := routesByDC(r.HealthWithLeaders(context.Background(), leaderRPC))
			if took := time.Since(start); took > RoutesTimeout+time.Second {
				t.Fatalf("took %v", took)
			}
			if got["dc1"].Route != RouteLocal {
				t.Fatalf("local %+v", got["dc1"])
			}
			for _, dc := range []string{"dc2", "dc3", "dc4"} {
				if got[dc].Route != RouteUnknown || got[dc].RouteError == "" {
					t.Fatalf("%s: %+v, want unknown with the error", dc, got[dc])
				}
			}
		})
	}
}

// TestUIFederationRoutes: the UI's rows carry the route, and a route
// that changes moves the index.
func TestUIFederationRoutes(t *testing.T) {
	var mu sync.Mutex
	via := ""
	r := routesRouter(t, func(ctx context.Context) ([]GatewayRoute, error) {
		mu.Lock()
		defer mu.Unlock()
		return []GatewayRoute{{DC: "dc2", Via: via, Gateways: []string{"127.0.33.21:8443"}}}, nil
	})
	view, idx := r.UIFederation(context.Background(), leaderRPC, nil, 0, time.Second)
	rows := map[string]UIDatacenter{}
	for _, d := range view.Datacenters {
		rows[d.Datacenter] = d
	}
	if d := rows["dc2"]; d.Route != "gateway" || !reflect.DeepEqual(d.Gateways, []string{"127.0.33.21:8443"}) {
		t.Fatalf("dc2 %+v", d)
	}
	if rows["dc1"].Route != "local" || rows["dc4"].Route != "none" {
		t.Fatalf("dc1 %q dc4 %q", rows["dc1"].Route, rows["dc4"].Route)
	}
	mu.Lock()
	via = "dc3"
	mu.Unlock()
	// A blocking read at idx returns once the route moved (after the
	// shared leader round expires and the feed rechecks).
	view, idx2 := r.UIFederation(context.Background(), leaderRPC, nil, idx, 10*time.Second)
	if idx2 == idx {
		t.Fatal("index did not move on a route change")
	}
	for _, d := range view.Datacenters {
		if d.Datacenter == "dc2" && d.Route != "via dc3" {
			t.Fatalf("dc2 route %q after the change", d.Route)
		}
	}
}
