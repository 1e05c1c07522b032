package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"consulate/config"
	"consulate/structs"
)

// Each test runs its agent on its own loopback address (127.0.0.6x–7x)
// with fixed ports below the ephemeral range, so tests that pick random
// ports on the same addresses cannot collide with them.
const (
	testServerPort = 18300
	testSerfLAN    = 18301
	testSerfWAN    = 18302
)

// testOpts builds the load options the CLI would for `agent -dev` with a
// config file holding extra (JSON members, may be empty) plus the
// addresses, ports and node name of ip.
func testOpts(t *testing.T, ip, extra string) config.LoadOpts {
	t.Helper()
	body := fmt.Sprintf(`{
  "node_name": "node-%s", "bind_addr": %q, "client_addr": %q, "log_level": "warn",
  "ports": {"dns": -1, "http": -1, "server": %d, "serf_lan": %d, "serf_wan": %d}%s
}`, strings.ReplaceAll(ip, ".", "-"), ip, ip, testServerPort, testSerfLAN, testSerfWAN, extra)
	path := filepath.Join(t.TempDir(), "agent.json")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return config.LoadOpts{Dev: true, Sources: []config.Source{{Kind: config.SourceFile, Path: path}}}
}

// startAgent loads opts, lets mutate adjust the runtime, starts the agent
// and waits for it to lead. The agent is shut down when the test ends.
func startAgent(t *testing.T, opts config.LoadOpts, mutate func(*config.Runtime)) *Agent {
	t.Helper()
	rt, err := config.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(rt)
	}
	a := runAgent(t, rt, Options{LoadOpts: opts, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "1.2.3-test"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := a.server.WaitForLeader(ctx); err != nil {
		t.Fatalf("no leader: %v", err)
	}
	return a
}

// runAgent builds and starts an agent from rt and o (within 5 s) and shuts
// it down when the test ends.
func runAgent(t *testing.T, rt *config.Runtime, o Options) *Agent {
	t.Helper()
	a, err := New(rt, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		a.Shutdown(sctx)
	})
	return a
}

// waitFor polls cond until it holds or 3 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServiceRegisteredThroughAdapterReadBackByRPC(t *testing.T) {
	a := startAgent(t, testOpts(t, "127.0.0.61", ""), nil)
	h := &httpAgent{a: a}
	def := &structs.ServiceDefinition{ID: "web-1", Name: "web", Port: 8080, Tags: []string{"v1"}}
	if err := h.AddService(def, false, ""); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := h.SyncChanges(ctx); err != nil {
		t.Fatal(err)
	}
	var out structs.IndexedNodeServices
	req := &structs.NodeSpecificRequest{Datacenter: "dc1", Node: a.cfg.NodeName}
	if err := h.RPC(ctx, structs.MethodCatalogNodeServices, req, &out); err != nil {
		t.Fatal(err)
	}
	if out.NodeServices == nil || out.NodeServices.Services["web-1"] == nil {
		t.Fatalf("service not in the catalog: %+v", out.NodeServices)
	}
	if s := out.NodeServices.Services["web-1"]; s.Service != "web" || s.Port != 8080 {
		t.Fatalf("catalog has %+v", s)
	}
	if _, ok := h.Services()["web-1"]; !ok {
		t.Fatal("service not in the local state")
	}
	if err := h.RemoveService("web-1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.Services()["web-1"]; ok {
		t.Fatal("service still local after removal")
	}
}

func TestUserEventsReachTheRing(t *testing.T) {
	a := startAgent(t, testOpts(t, "127.0.0.62", ""), nil)
	h := &httpAgent{a: a}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	woken := h.LocalChanged()
	// Filtered out: another node, and a service this agent does not run.
	if err := h.FireEvent(ctx, &structs.UserEvent{Name: "skip-node", NodeFilter: "^elsewhere$"}, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := h.FireEvent(ctx, &structs.UserEvent{Name: "skip-svc", ServiceFilter: "^db$"}, "", ""); err != nil {
		t.Fatal(err)
	}
	ev := &structs.UserEvent{Name: "deploy", Payload: []byte("v2"), NodeFilter: "^node-"}
	if err := h.FireEvent(ctx, ev, "", ""); err != nil {
		t.Fatal(err)
	}
	if ev.ID == "" {
		t.Fatal("no ID given to the event")
	}
	waitFor(t, "the event in the ring", func() bool {
		for _, e := range h.UserEvents() {
			if e.ID == ev.ID {
				return true
			}
		}
		return false
	})
	select {
	case <-woken:
	default:
		t.Fatal("LocalChanged not woken by the event")
	}
	got := h.UserEvents()
	if len(got) != 1 || got[0].Name != "deploy" || string(got[0].Payload) != "v2" || got[0].LTime == 0 {
		t.Fatalf("ring holds %+v", got)
	}
	// The size limit is the server's, checked before gossip.
	big := &structs.UserEvent{Name: "big", Payload: make([]byte, 2048)}
	var bad *structs.BadRequestError
	if err := h.FireEvent(ctx, big, "", ""); !errors.As(err, &bad) {
		t.Fatalf("oversized event: %v", err)
	}
}

func TestReloadAppliesServicesFromConfigFile(t *testing.T) {
	opts := testOpts(t, "127.0.0.63", "")
	dir := t.TempDir()
	svc := filepath.Join(dir, "svc.json")
	write := func(name string) {
		body := fmt.Sprintf(`{"service": {"id": %q, "name": %q, "port": 9000}}`, name, name)
		if err := os.WriteFile(svc, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("api")
	opts.Sources = append(opts.Sources, config.Source{Kind: config.SourceDir, Path: dir})
	a := startAgent(t, opts, nil)
	h := &httpAgent{a: a}
	if _, ok := h.Services()["api"]; !ok {
		t.Fatalf("config service not loaded: %v", h.Services())
	}
	write("billing")
	if err := h.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	svcs := h.Services()
	if _, ok := svcs["billing"]; !ok {
		t.Fatalf("reloaded service missing: %v", svcs)
	}
	if _, ok := svcs["api"]; ok {
		t.Fatalf("removed service kept: %v", svcs)
	}
	// A broken file: reload refuses and keeps what runs.
	if err := os.WriteFile(svc, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	var bad *structs.BadRequestError
	if err := h.Reload(context.Background()); !errors.As(err, &bad) {
		t.Fatalf("reload of a broken file: %v", err)
	}
	if _, ok := h.Services()["billing"]; !ok {
		t.Fatal("services lost by a failed reload")
	}
}

func TestLeaveThenShutdownIsIdempotent(t *testing.T) {
	a := startAgent(t, testOpts(t, "127.0.0.64", ""), nil)
	h := &httpAgent{a: a}
	if err := h.Leave(context.Background()); err != nil {
		t.Fatalf("leave: %v", err)
	}
	select {
	case <-a.ShutdownCh():
	case <-time.After(4 * time.Second):
		t.Fatal("ShutdownCh not closed after leave")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestWANPortDisabled: a server without a WAN pool (no WAN port: config
// refuses -1 for it, but the agent starts none for any port <= 0) answers
// Coordinate.ListDatacenters with an empty list (it used to dereference
// the missing pool), and refuses WAN joins.
func TestWANPortDisabled(t *testing.T) {
	a := startAgent(t, testOpts(t, "127.0.0.75", ""), func(rt *config.Runtime) { rt.SerfPortWAN = 0 })
	if a.wan != nil {
		t.Fatal("WAN pool started with the port disabled")
	}
	h := &httpAgent{a: a}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var out []*structs.DatacenterMap
	if err := h.RPC(ctx, structs.MethodCoordinateListDatacenters, &structs.DCSpecificRequest{Datacenter: "dc1"}, &out); err != nil {
		t.Fatal(err)
	}
	if out == nil || len(out) != 0 {
		t.Fatalf("coordinates %v", out)
	}
	if m := h.Members(true); m == nil || len(m) != 0 {
		t.Fatalf("WAN members %v", m)
	}
	var bad *structs.BadRequestError
	if _, err := h.Join(ctx, []string{"127.0.0.1"}, true); !errors.As(err, &bad) {
		t.Fatalf("WAN join: %v", err)
	}
	if _, ok := a.Stats()["serf_wan"]; ok {
		t.Fatal("serf_wan stats without a WAN pool")
	}
	rows, err := a.wanHealth(ctx)
	if err != nil || rows == nil {
		t.Fatalf("WAN health %v %v", rows, err)
	}
}

func TestStatsAndSelf(t *testing.T) {
	a := startAgent(t, testOpts(t, "127.0.0.76", `, "node_meta": {"rack": "r1"}`), nil)
	h := &httpAgent{a: a}
	waitFor(t, "the WAN pool to list this server", func() bool { return len(h.Members(true)) == 1 })
	st := a.Stats()
	for section, want := range map[string]map[string]string{
		"agent":  {"version": "1.2.3-test", "services": "0", "checks": "0"},
		"consul": {"server": "true", "datacenter": "dc1", "leader": "true", "known_datacenters": "1"},
		"build":  {"version": "1.2.3-test"},
	} {
		for k, v := range want {
			if got := st[section][k]; got != v {
				t.Errorf("stats %s.%s = %q, want %q", section, k, got, v)
			}
		}
	}
	for _, s := range []string{"serf_lan", "serf_wan", "raft"} {
		if len(st[s]) == 0 {
			t.Errorf("no %s stats", s)
		}
	}
	if st["consul"]["leader_addr"] == "" {
		t.Error("no leader address")
	}
	self := h.Self()
	if self.NodeName != "node-127-0-0-76" || self.NodeID != a.NodeID() || self.Datacenter != "dc1" || !self.Server ||
		self.Version != "1.2.3-test" || self.BindAddr != "127.0.0.76" || self.AdvertiseAddr != "127.0.0.76" ||
		self.Meta["rack"] != "r1" {
		t.Fatalf("self %+v", self)
	}
	if self.Member.Name != "node-127-0-0-76" || self.Member.Addr != "127.0.0.76" {
		t.Fatalf("self member %+v", self.Member)
	}
	if lan := h.Members(false); len(lan) != 1 || lan[0].Name != self.NodeName {
		t.Fatalf("LAN members %+v", lan)
	}
	if wan := h.Members(true); wan[0].Name != self.NodeName+".dc1" {
		t.Fatalf("WAN members %+v", wan)
	}
	// The collectors registered for every piece this server runs.
	names := map[string]bool{}
	for _, g := range a.metrics.Summary().Gauges {
		names[g.Name] = true
	}
	for _, n := range []string{"consul.runtime.num_goroutines", "consul.cache.entries_count", "consul.memberlist.health.score",
		"consul.lan.members.failed", "consul.rpc.conns.open", "consul.rpc.pool.sessions", "consul.wan.servers.alive"} {
		if !names[n] {
			t.Errorf("gauge %s missing", n)
		}
	}
}
