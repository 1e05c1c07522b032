package rpcmux

import (
	"context"
	"reflect"
	"testing"

	"consulate/metrics"
)

func TestPoolCollect(t *testing.T) {
	p, err := NewPool(DefaultPoolConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	type gauge struct {
		name   string
		labels metrics.Labels
		value  float64
	}
	var got []gauge
	p.Collect(func(name string, l metrics.Labels, v float64) { got = append(got, gauge{name, l, v}) })
	want := []gauge{
		{"consul.rpc.pool.sessions", nil, 0},
		{"consul.rpc.pool.sessions", metrics.Labels{"lane": "blocking"}, 0},
		{"consul.rpc.pool.calls", nil, 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
