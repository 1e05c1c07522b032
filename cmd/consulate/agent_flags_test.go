package main

import (
	"reflect"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"consulate/config"
)

// parseAgentFlags runs args through a throwaway app carrying agentFlags.
func parseAgentFlags(t *testing.T, args ...string) (*config.Config, error) {
	t.Helper()
	var got *config.Config
	var ferr error
	app := &cli.App{
		Name:   "agent",
		Flags:  agentFlags(),
		Writer: testWriter{t}, ErrWriter: testWriter{t},
		Action: func(c *cli.Context) error {
			got, ferr = configFromFlags(c)
			return nil
		},
	}
	if err := app.Run(append([]string{"agent"}, args...)); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return got, ferr
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func TestConfigFromFlagsOnlySetFlags(t *testing.T) {
	cfg, err := parseAgentFlags(t,
		"-server", "-bootstrap-expect", "3", "-dc", "DC2", "-bind=127.0.0.11",
		"-retry-join", "127.0.0.12,with-comma", "-retry-join", "127.0.0.13",
		"-retry-interval", "5s", "-http-port", "-1", "-https-port", "8501", "-node-meta", "rack:r1",
		"--node-meta=zone:a:b", "-ui", "-recursor", "127.0.0.53")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server == nil || !*cfg.Server {
		t.Errorf("server = %v", cfg.Server)
	}
	if cfg.BootstrapExpect == nil || *cfg.BootstrapExpect != 3 {
		t.Errorf("bootstrap_expect = %v", cfg.BootstrapExpect)
	}
	if cfg.Datacenter == nil || *cfg.Datacenter != "DC2" {
		t.Errorf("datacenter via -dc = %v", cfg.Datacenter)
	}
	if cfg.BindAddr == nil || *cfg.BindAddr != "127.0.0.11" {
		t.Errorf("bind = %v", cfg.BindAddr)
	}
	if want := []string{"127.0.0.12,with-comma", "127.0.0.13"}; !reflect.DeepEqual(cfg.RetryJoinLAN, want) {
		t.Errorf("retry_join = %q, want %q", cfg.RetryJoinLAN, want)
	}
	if cfg.RetryIntervalLAN == nil || *cfg.RetryIntervalLAN != 5*time.Second {
		t.Errorf("retry_interval = %v", cfg.RetryIntervalLAN)
	}
	if cfg.Ports == nil || cfg.Ports.HTTP == nil || *cfg.Ports.HTTP != -1 || cfg.Ports.HTTPS == nil || *cfg.Ports.HTTPS != 8501 || cfg.Ports.DNS != nil {
		t.Errorf("ports = %+v", cfg.Ports)
	}
	if want := map[string]string{"rack": "r1", "zone": "a:b"}; !reflect.DeepEqual(cfg.NodeMeta, want) {
		t.Errorf("node_meta = %v", cfg.NodeMeta)
	}
	if cfg.UI == nil || !*cfg.UI || len(cfg.Recursors) != 1 {
		t.Errorf("ui = %v recursors = %v", cfg.UI, cfg.Recursors)
	}
	// Flags not given stay unset so files keep their values.
	if cfg.Bootstrap != nil || cfg.ClientAddr != nil || cfg.DataDir != nil || cfg.LogLevel != nil || cfg.StartJoinAddrsLAN != nil || cfg.RetryMaxAttemptsLAN != nil {
		t.Errorf("unset flags leaked into config: %+v", cfg)
	}
}

// TestConfigFromFlagsGateway: -gateway, -gateway-port, -gateway-peer
// (repeatable) and -primary-gateway fill the gateway stanza and
// primary_gateways, and load.
func TestConfigFromFlagsGateway(t *testing.T) {
	cfg, err := parseAgentFlags(t, "-gateway", "-gateway-port", "9443",
		"-gateway-peer", "127.0.33.31:8443", "-gateway-peer=127.0.33.32:8443")
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Gateway
	if g == nil || g.Enabled == nil || !*g.Enabled || g.Port == nil || *g.Port != 9443 ||
		!reflect.DeepEqual(g.Peers, []string{"127.0.33.31:8443", "127.0.33.32:8443"}) || g.ProbeInterval != nil {
		t.Fatalf("gateway = %+v", g)
	}
	cfg.DataDir, cfg.NodeName, cfg.BindAddr = ptrTo(t.TempDir()), ptrTo("gw"), ptrTo("127.0.33.21")
	rt, err := config.Load(config.LoadOpts{Flags: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if !rt.GatewayEnabled || rt.GatewayPort != 9443 || len(rt.GatewayPeers) != 2 || rt.GatewayProbeInterval != time.Second {
		t.Fatalf("runtime gateway %v %d %v %s", rt.GatewayEnabled, rt.GatewayPort, rt.GatewayPeers, rt.GatewayProbeInterval)
	}

	cfg, err = parseAgentFlags(t, "-server", "-primary-gateway", "127.0.33.41:8443")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Gateway != nil || !reflect.DeepEqual(cfg.PrimaryGateways, []string{"127.0.33.41:8443"}) {
		t.Fatalf("gateway %+v primary_gateways %q", cfg.Gateway, cfg.PrimaryGateways)
	}
	// primary_gateways needs the server to be in gateway mode (a file).
	cfg.DataDir, cfg.NodeName, cfg.BindAddr = ptrTo(t.TempDir()), ptrTo("s"), ptrTo("127.0.33.11")
	if _, err := config.Load(config.LoadOpts{Flags: cfg}); err == nil {
		t.Fatal("-primary-gateway without connect.enable_mesh_gateway_wan_federation accepted")
	}
	fed := config.Source{Kind: config.SourceData, Path: "fed.hcl", Data: []byte("connect { enable_mesh_gateway_wan_federation = true }")}
	rt, err = config.Load(config.LoadOpts{Sources: []config.Source{fed}, Flags: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if !rt.GatewayFederation || len(rt.PrimaryGateways) != 1 {
		t.Fatalf("federation %v primary %q", rt.GatewayFederation, rt.PrimaryGateways)
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestConfigFromFlagsEmpty(t *testing.T) {
	cfg, err := parseAgentFlags(t)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, &config.Config{}) {
		t.Errorf("no flags should give an empty config, got %+v", cfg)
	}
}

func TestConfigFromFlagsBadNodeMeta(t *testing.T) {
	if _, err := parseAgentFlags(t, "-node-meta", ":x"); err == nil {
		t.Fatal("want an error for -node-meta without a key")
	}
}

func TestConfigFromFlagsLoads(t *testing.T) {
	cfg, err := parseAgentFlags(t, "-dev", "-client", "127.0.0.2", "-node", "n1", "-dns-port", "8601")
	if err != nil {
		t.Fatal(err)
	}
	rt, err := config.Load(config.LoadOpts{Flags: cfg, Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := rt.DNSAddrs(); !reflect.DeepEqual(got, []string{"127.0.0.2:8601"}) {
		t.Errorf("dns addrs = %v", got)
	}
	if rt.NodeName != "n1" || !rt.ServerMode {
		t.Errorf("runtime = %+v", rt)
	}
}

func TestConfigSourcesFromArgs(t *testing.T) {
	args := []string{
		"consulate", "agent", "-config-dir", "/etc/c.d", "-server",
		"-config-file=/a.json", "--config-dir=/d2", "--config-file", "/b.hcl",
		"-node", "x", "-config-file", // dangling: ignored
	}
	got := configSourcesFromArgs(args)
	want := []config.Source{
		{Kind: config.SourceDir, Path: "/etc/c.d"},
		{Kind: config.SourceFile, Path: "/a.json"},
		{Kind: config.SourceDir, Path: "/d2"},
		{Kind: config.SourceFile, Path: "/b.hcl"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sources = %+v\nwant %+v", got, want)
	}
	if got := configSourcesFromArgs([]string{"-config-file", "/x.json", "--", "-config-dir", "/y"}); len(got) != 1 {
		t.Errorf("args after -- must be ignored, got %+v", got)
	}
}
