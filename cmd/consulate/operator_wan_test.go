package main

import "testing"

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
