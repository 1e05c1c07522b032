package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"consulate/config"
	"consulate/structs"
)

func TestSubscribeViaStreamsServiceHealthFrames(t *testing.T) {
	stop := errors.New("stop")
	stream := func(ctx context.Context, method structs.Method, args any, newFrame func() any, recv func(any) error) error {
		if method != structs.MethodSubscribeServiceHealth {
			return fmt.Errorf("method %s", method)
		}
		if req, ok := args.(*structs.SubscribeRequest); !ok || req.ServiceName != "web" {
			return fmt.Errorf("args %#v", args)
		}
		for i := uint64(1); i <= 2; i++ {
			f := newFrame()
			f.(*structs.ServiceHealthEvent).Index = i
			if err := recv(f); err != nil {
				return err
			}
		}
		return stop
	}
	var got []uint64
	err := subscribeVia(stream)(context.Background(), &structs.SubscribeRequest{ServiceName: "web"},
		func(ev *structs.ServiceHealthEvent) error {
			got = append(got, ev.Index)
			return nil
		})
	if !errors.Is(err, stop) || fmt.Sprint(got) != "[1 2]" {
		t.Fatalf("%v %v", err, got)
	}
}

func TestCachedReadOnServerAgent(t *testing.T) {
	a := startAgent(t, testOpts(t, "127.0.0.62", ""), nil)
	if a.views != nil {
		t.Fatal("a server agent has views")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := a.RPC(ctx, structs.MethodCatalogRegister, &structs.RegisterRequest{Node: "n1", Address: "10.0.0.1",
		Service: &structs.NodeService{ID: "web", Service: "web"}}, &struct{}{}); err != nil {
		t.Fatal(err)
	}
	read := func() structs.IndexedCheckServiceNodes {
		var out structs.IndexedCheckServiceNodes
		if err := a.RPC(ctx, structs.MethodHealthServiceNodes, &structs.ServiceSpecificRequest{ServiceName: "web",
			QueryOptions: structs.QueryOptions{UseCache: true}}, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if out := read(); out.CacheHit || len(out.Nodes) != 1 {
		t.Fatalf("first: %+v", out)
	}
	if out := read(); !out.CacheHit || len(out.Nodes) != 1 || out.Index == 0 {
		t.Fatalf("second: %+v", out)
	}
}

func TestStreamingBackendOnClientsOnly(t *testing.T) {
	for _, c := range []struct {
		extra string
		views bool
	}{{"", true}, {`, "use_streaming_backend": false`, false}} {
		dir := t.TempDir()
		body := fmt.Sprintf(`{"node_name": "client-1", "datacenter": "dc1", "data_dir": %q, "bind_addr": "127.0.0.63",
  "client_addr": "127.0.0.63", "log_level": "warn",
  "ports": {"dns": -1, "http": -1, "serf_lan": %d}%s}`, dir, testSerfLAN, c.extra)
		path := filepath.Join(dir, "agent.json")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		rt, err := config.Load(config.LoadOpts{Sources: []config.Source{{Kind: config.SourceFile, Path: path}}})
		if err != nil {
			t.Fatal(err)
		}
		a, err := New(rt, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := a.Start(ctx); err != nil {
			cancel()
			t.Fatal(err)
		}
		if (a.views != nil) != c.views {
			t.Errorf("%q: views %v, want %v", c.extra, a.views != nil, c.views)
		}
		a.Shutdown(ctx)
		cancel()
	}
}
