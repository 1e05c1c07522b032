package config

import (
	"math"
	"testing"
)

// TestConsulDefaultValuesAccepted: values that are Consul's own defaults
// (or its documented "off") load: a negative rate is unlimited, and
// ports.serf_wan = -1 runs a server without a WAN pool.
func TestConsulDefaultValuesAccepted(t *testing.T) {
	hcl := `
server = true
limits {
  rpc_rate = -1
  request_limits { mode = "permissive" read_rate = -1 write_rate = -0.5 }
}
ports { serf_wan = -1 }
`
	rt := tlsLoad(t, data("d.hcl", hcl))
	if !math.IsInf(rt.RPCRate, 1) || !math.IsInf(rt.RequestLimitsReadRate, 1) || !math.IsInf(rt.RequestLimitsWriteRate, 1) {
		t.Fatalf("rates %g %g %g, want unlimited", rt.RPCRate, rt.RequestLimitsReadRate, rt.RequestLimitsWriteRate)
	}
	if rt.SerfPortWAN != -1 {
		t.Fatalf("serf_wan %d, want -1 (disabled)", rt.SerfPortWAN)
	}
	if _, err := Load(LoadOpts{Sources: []Source{data("p.json", `{"ports": {"serf_wan": -2}}`)},
		Flags: flags(func(c *Config) { c.DataDir = ptr("/tmp/x"); c.NodeName = ptr("n") })}); err == nil {
		t.Fatal("ports.serf_wan = -2 accepted")
	}
}
