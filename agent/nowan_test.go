package agent

import (
	"testing"

	"consulate/config"
)

// TestServerWithoutWANPool: ports.serf_wan = -1 runs a server with no WAN
// pool (Consul's way to disable it); it still elects itself and serves.
func TestServerWithoutWANPool(t *testing.T) {
	a := startAgent(t, testOpts(t, "127.0.13.42", ""), func(rt *config.Runtime) { rt.SerfPortWAN = -1 })
	if a.wan != nil {
		t.Fatal("WAN pool started with ports.serf_wan = -1")
	}
	if ms := a.Members(true); len(ms) != 0 {
		t.Fatalf("WAN members %v, want none", ms)
	}
}
