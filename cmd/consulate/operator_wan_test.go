package main

import (
	"slices"
	"strings"
	"testing"
)

func TestWANDatacenterStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    wanDatacenter
		want string
	}{
		{"all alive", wanDatacenter{Alive: 3, HasLeader: true}, "healthy"},
		{"one failed", wanDatacenter{Alive: 2, Failed: 1, HasLeader: true}, "degraded"},
		{"none alive", wanDatacenter{Failed: 3, Unreachable: true}, "failed"},
		// Gossip still says alive, RPC reaches nobody: requests fail fast,
		// and the operator must see why.
		{"alive but unreachable", wanDatacenter{Alive: 3, HasLeader: true, Unreachable: true}, "unreachable"},
		{"no leader", wanDatacenter{Alive: 3}, "no-leader"},
	} {
		if got := tc.d.status(); got != tc.want {
			t.Errorf("%s: status %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestOperatorWANRouteColumn: `operator wan` shows each datacenter's
// route, "-" from a server that does not say; -detailed lists the
// gateways of each route (or why it is unknown).
func TestOperatorWANRouteColumn(t *testing.T) {
	f := newFakeAgent(t)
	f.json("/v1/operator/wan", []map[string]any{
		{"Datacenter": "dc1", "Local": true, "Alive": 1, "HasLeader": true, "Route": "local"},
		{"Datacenter": "dc2", "Alive": 1, "HasLeader": true, "Route": "gateway", "Gateways": []string{"127.0.33.21:8443", "127.0.33.22:8443"}},
		{"Datacenter": "dc3", "Alive": 1, "HasLeader": true, "Route": "via dc2", "Gateways": []string{"127.0.33.21:8443"}},
		{"Datacenter": "dc4", "Alive": 1, "HasLeader": true, "Route": "unknown", "RouteError": "no alive local gateway"},
		{"Datacenter": "dc5", "Alive": 1, "HasLeader": true},
	})
	r := f.run("operator", "wan")
	wantOK(t, r)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("output:\n%s", r.stdout)
	}
	header := strings.Fields(lines[0])
	col := slices.Index(header, "Route")
	if col < 0 {
		t.Fatalf("no Route column: %q", lines[0])
	}
	// Every cell before Route is one word except Servers ("1 alive, 0
	// failed, 0 left": 6 words).
	want := map[string]string{"dc1": "local", "dc2": "gateway", "dc3": "via", "dc4": "unknown", "dc5": "-"}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if got := f[col+5]; got != want[f[0]] {
			t.Errorf("%s route %q, want %q (line %q)", f[0], got, want[f[0]], l)
		}
	}
	if !strings.Contains(lines[3], "via dc2") {
		t.Errorf("dc3 line %q", lines[3])
	}

	r = f.run("operator", "wan", "-detailed")
	wantOK(t, r)
	for _, w := range []string{
		"Datacenter  Route    Gateways",
		"dc2         gateway  127.0.33.21:8443, 127.0.33.22:8443",
		"dc3         via dc2  127.0.33.21:8443",
		"dc4         unknown  no alive local gateway",
	} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("-detailed lacks %q:\n%s", w, r.stdout)
		}
	}
}
