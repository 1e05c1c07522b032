package agent

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"consulate/federation"
	"consulate/gateway"
)

func TestGatewayRoutesAdapter(t *testing.T) {
	if gatewayRoutes(nil) != nil {
		t.Fatal("no gateway mode must leave the router's seam nil")
	}
	f := gatewayRoutes(func(context.Context) ([]gateway.Route, error) {
		return []gateway.Route{
			{DC: "dc2", Gateways: []string{"127.0.33.21:8443"}, RTT: time.Millisecond},
			{DC: "dc3", Via: "dc2", Gateways: []string{"127.0.33.21:8443", "127.0.33.22:8443"}},
		}, nil
	})
	got, err := f(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []federation.GatewayRoute{
		{DC: "dc2", Gateways: []string{"127.0.33.21:8443"}},
		{DC: "dc3", Via: "dc2", Gateways: []string{"127.0.33.21:8443", "127.0.33.22:8443"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("routes %+v, want %+v", got, want)
	}
	boom := errors.New("no alive local gateway")
	f = gatewayRoutes(func(context.Context) ([]gateway.Route, error) { return nil, boom })
	if _, err := f(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
}
