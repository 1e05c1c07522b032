package config

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestGatewayJSONAndHCLAgree: the gateway stanza, the connect federation
// switch and primary_gateways read the same from JSON and HCL.
func TestGatewayJSONAndHCLAgree(t *testing.T) {
	load := func(name string) *Runtime {
		t.Helper()
		rt, err := Load(LoadOpts{Sources: []Source{file(name)}})
		if err != nil {
			t.Fatal(err)
		}
		for i := range rt.Warnings {
			rt.Warnings[i] = strings.TrimPrefix(rt.Warnings[i], "testdata/"+name+": ")
		}
		return rt
	}
	j, h := load("gateway.json"), load("gateway.hcl")
	jb, _ := json.Marshal(goldenRuntime(j))
	hb, _ := json.Marshal(goldenRuntime(h))
	if string(jb) != string(hb) {
		t.Errorf("json and hcl differ:\n%s\n%s", jb, hb)
	}
	if !h.GatewayEnabled || h.GatewayPort != 8444 || !slices.Equal(h.GatewayPeers, []string{"127.0.33.31:8443"}) ||
		h.GatewayProbeInterval != 250*time.Millisecond || !h.GatewayFederation ||
		!slices.Equal(h.PrimaryGateways, []string{"127.0.33.21:8443", "gw.dc1.example:8443"}) ||
		h.PrimaryGatewaysInterval != 10*time.Second {
		t.Fatalf("gateway runtime %+v", h)
	}
	// The keys work: no warning.
	if len(h.Warnings) != 0 {
		t.Fatalf("warnings %q", h.Warnings)
	}
}

// TestGatewayDefaults: off, port 8443, probes every second, primary
// gateways retried every 30s (Consul's default).
func TestGatewayDefaults(t *testing.T) {
	rt := tlsLoad(t)
	if rt.GatewayEnabled || rt.GatewayPort != 8443 || rt.GatewayPeers != nil ||
		rt.GatewayProbeInterval != time.Second || rt.GatewayFederation ||
		rt.PrimaryGateways != nil || rt.PrimaryGatewaysInterval != 30*time.Second {
		t.Fatalf("defaults %+v", rt)
	}
}

// TestGatewayPeersAccumulate: peers from several sources add up, as every
// list does.
func TestGatewayPeersAccumulate(t *testing.T) {
	rt, err := Load(LoadOpts{
		Sources: []Source{data("a.json", `{"gateway": {"enabled": true, "peers": ["127.0.33.31:8443"]}}`)},
		Flags: flags(func(c *Config) {
			c.DataDir, c.NodeName = ptr("/tmp/x"), ptr("n")
			c.Gateway = &Gateway{Peers: []string{" 127.0.33.32:8443 "}, Port: ptr(9443)}
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rt.GatewayPeers, []string{"127.0.33.31:8443", "127.0.33.32:8443"}) || rt.GatewayPort != 9443 || !rt.GatewayEnabled {
		t.Fatalf("gateway %v %v %d", rt.GatewayEnabled, rt.GatewayPeers, rt.GatewayPort)
	}
}

// TestGatewayErrors: every rule, with the file and the key in the error.
func TestGatewayErrors(t *testing.T) {
	const fed = `"connect": {"enable_mesh_gateway_wan_federation": true}`
	cases := []struct{ name, body, want string }{
		{"port zero", `{"gateway": {"port": 0}}`,
			`gateway.port: must be 1-65535, got 0`},
		{"port too big", `{"gateway": {"enabled": true, "port": 65536}}`,
			`gateway.port: must be 1-65535, got 65536`},
		{"peer without port", `{"gateway": {"peers": ["127.0.33.31"]}}`,
			`gateway.peers: "127.0.33.31" is not host:port`},
		{"peer bad port", `{"gateway": {"peers": ["127.0.33.31:http"]}}`,
			`gateway.peers: "127.0.33.31:http": port must be 1-65535`},
		{"peer no host", `{"gateway": {"peers": [":8443"]}}`,
			`gateway.peers: ":8443" is not host:port`},
		{"probe zero", `{"gateway": {"probe_interval": "0s"}}`,
			`gateway.probe_interval: must be > 0 and at most 1m0s, got 0s`},
		{"probe too long", `{"gateway": {"probe_interval": "61s"}}`,
			`gateway.probe_interval: must be > 0 and at most 1m0s, got 1m1s`},
		{"federation on a client", `{` + fed + `}`,
			`connect.enable_mesh_gateway_wan_federation: only servers route through gateways`},
		{"primary gateways without federation", `{"server": true, "primary_gateways": ["127.0.33.21:8443"]}`,
			`primary_gateways: needs connect.enable_mesh_gateway_wan_federation = true (a server joins through gateways only in gateway mode)`},
		{"primary gateway not host:port", `{"server": true, ` + fed + `, "primary_gateways": ["gw.example"]}`,
			`primary_gateways: "gw.example" is not host:port`},
		{"primary gateways interval", `{"primary_gateways_interval": "-1s"}`,
			`primary_gateways_interval: must be > 0, got -1s`},
		{"port is serf_lan", `{"gateway": {"enabled": true, "port": 8301}}`,
			`gateway.port: 8301 is also ports.serf_lan on 127.0.33.5 (the gateway listens on bind_addr 127.0.33.5)`},
		{"port is http on client_addr 0.0.0.0", `{"client_addr": "0.0.0.0", "gateway": {"enabled": true, "port": 8500}}`,
			`gateway.port: 8500 is also ports.http on 0.0.0.0 (the gateway listens on bind_addr 127.0.33.5)`},
		{"port is a server's server port", `{"server": true, "gateway": {"enabled": true, "port": 8300}}`,
			`gateway.port: 8300 is also ports.server on 127.0.33.5 (the gateway listens on bind_addr 127.0.33.5)`},
		{"port is a server's serf_wan", `{"server": true, "ports": {"serf_wan": 8443}, "gateway": {"enabled": true}}`,
			`gateway.port: 8443 is also ports.serf_wan on 127.0.33.5 (the gateway listens on bind_addr 127.0.33.5)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(LoadOpts{
				Sources: []Source{data("g.json", tc.body)},
				Flags:   flags(func(c *Config) { c.DataDir, c.NodeName, c.BindAddr = ptr("/tmp/x"), ptr("n"), ptr("127.0.33.5") }),
			})
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("err %v is not ErrInvalid", err)
			}
			if want := "config: g.json: " + tc.want; err.Error() != want {
				t.Fatalf("err\n %s\nwant\n %s", err, want)
			}
		})
	}
}

// TestGatewayPortNoCollision: the same port on another address, a port
// only servers use on a client, and a disabled gateway are accepted.
func TestGatewayPortNoCollision(t *testing.T) {
	for _, body := range []string{
		// HTTP listens on 127.0.0.1 (client_addr), the gateway on 127.0.33.5.
		`{"gateway": {"enabled": true, "port": 8500}}`,
		// A client has no server port.
		`{"gateway": {"enabled": true, "port": 8300}}`,
		// A gateway that is off listens nowhere.
		`{"gateway": {"port": 8301}}`,
	} {
		if _, err := Load(LoadOpts{
			Sources: []Source{data("g.json", body)},
			Flags:   flags(func(c *Config) { c.DataDir, c.NodeName, c.BindAddr = ptr("/tmp/x"), ptr("n"), ptr("127.0.33.5") }),
		}); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
}
