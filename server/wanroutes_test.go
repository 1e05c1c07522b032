package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"consulate/federation"
	"consulate/structs"
)

// TestOperatorWANHealthRoutes: Operator.WANHealth (what client agents and
// `operator wan` read) carries each datacenter's Route and Gateways from
// the router's gateway routes: direct for the local datacenter,
// "gateway" or "via dcX" for the others, "none" without a route.
func TestOperatorWANHealthRoutes(t *testing.T) {
	rcfg := federation.DefaultConfig()
	rcfg.LocalDC = "dc1"
	rcfg.GatewayRoutes = func(ctx context.Context) ([]federation.GatewayRoute, error) {
		return []federation.GatewayRoute{
			{DC: "dc2", Gateways: []string{"127.0.33.21:8443", "127.0.33.22:8443"}},
			{DC: "dc3", Via: "dc2", Gateways: []string{"127.0.33.21:8443"}},
		}, nil
	}
	router, err := federation.New(rcfg, noCaller{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, dc := range []string{"dc1", "dc2", "dc3", "dc4"} {
		router.UpdateServer(federation.Server{Name: "s." + dc, Datacenter: dc,
			Addr: structs.ServerAddr(fmt.Sprintf("127.0.33.%d:8300", i+1)), Status: structs.StatusAlive})
	}
	leaders := func(ctx context.Context, m structs.Method, args, reply any) error {
		*(reply.(*string)) = "leader:8300"
		return nil
	}
	cfg := testConfig("wan1")
	cfg.Bootstrap = true
	s := startServer(t, cfg, Deps{WANHealth: func(ctx context.Context) any { return router.HealthWithLeaders(ctx, leaders) }})
	waitLeader(t, s)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var reply structs.WANHealthReply
	if err := s.RPC(ctx, structs.MethodOperatorWANHealth, &structs.DCSpecificRequest{}, &reply); err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Datacenter string
		Route      string
		Gateways   []string
	}
	if err := json.Unmarshal(reply.JSON, &rows); err != nil {
		t.Fatalf("%v: %s", err, reply.JSON)
	}
	got := map[string][2]any{}
	for _, r := range rows {
		got[r.Datacenter] = [2]any{r.Route, r.Gateways}
	}
	want := map[string][2]any{
		"dc1": {"local", []string(nil)},
		"dc2": {"gateway", []string{"127.0.33.21:8443", "127.0.33.22:8443"}},
		"dc3": {"via dc2", []string{"127.0.33.21:8443"}},
		"dc4": {"none", []string(nil)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("routes %v\nwant %v", got, want)
	}
}

// noCaller is a federation.Caller that reaches nobody (the routes test
// never forwards).
type noCaller struct{}

func (noCaller) Call(context.Context, structs.Datacenter, structs.ServerAddr, structs.Method, any, any) error {
	return errors.New("no caller in this test")
}

func (noCaller) Stream(context.Context, structs.Datacenter, structs.ServerAddr, structs.Method, any, func() any, func(any) error) error {
	return errors.New("no caller in this test")
}
