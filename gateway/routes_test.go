package gateway

import (
	"slices"
	"testing"
	"time"
)

// The route order: direct gateways by RTT, then transit gateways by RTT
// through the transit; suspects last within each group; down gateways
// not at all.
func TestRouteOrder(t *testing.T) {
	tb := newTable("dc1", time.Second, nil)
	tb.setSelf("10.0.1.1:8443")
	now := time.Now()
	add := func(addr, dc string, rtt time.Duration, fails int, direct ...Reach) {
		tb.peers[addr] = &peer{addr: addr, dc: dc, rtt: rtt, lastOK: now, fails: fails,
			advert: &Advert{DC: dc, Direct: direct}}
	}
	add("d3-slow", "dc3", 30*time.Millisecond, 0)
	add("d3-fast", "dc3", 10*time.Millisecond, 0)
	add("d3-suspect", "dc3", 1*time.Millisecond, 1)
	add("d3-down", "dc3", 1*time.Millisecond, 2)
	add("h2-a", "dc2", 5*time.Millisecond, 0, Reach{DC: "dc3", RTT: 50 * time.Millisecond})
	add("h4-a", "dc4", 5*time.Millisecond, 0, Reach{DC: "dc3", RTT: 20 * time.Millisecond}, Reach{DC: "dc5", RTT: time.Millisecond})
	var got []string
	for _, c := range tb.route("dc3", false) {
		got = append(got, c.addr+"/"+c.via)
	}
	want := []string{"d3-fast/", "d3-slow/", "d3-suspect/", "h4-a/dc4", "h2-a/dc2"}
	if !slices.Equal(got, want) {
		t.Fatalf("route dc3 = %v, want %v", got, want)
	}
	if got := tb.route("dc3", true); len(got) != 3 || got[2].addr != "d3-suspect" {
		t.Fatalf("direct only: %+v", got)
	}
	// dc5 only through dc4; its RTT is through the transit.
	rs := tb.routes()
	var dc5 Route
	for _, r := range rs {
		if r.DC == "dc5" {
			dc5 = r
		}
	}
	if dc5.Via != "dc4" || !slices.Equal(dc5.Gateways, []string{"h4-a"}) || dc5.RTT != 6*time.Millisecond {
		t.Fatalf("dc5 route %+v (all %+v)", dc5, rs)
	}
	// Direct reach in the advert: alive and recent only, by RTT.
	d := tb.direct()
	if len(d) != 3 || d[1].DC != "dc3" || !slices.Equal(d[1].Gateways, []string{"d3-suspect", "d3-fast", "d3-slow"}) {
		t.Fatalf("direct %+v", d)
	}
}

func TestLearnAndForget(t *testing.T) {
	tb := newTable("dc1", time.Second, []string{"cfg:1"})
	tb.setSelf("me:1")
	tb.learn(&Advert{DC: "dc2", Gateways: []string{"g2:1", "me:1"},
		Direct: []Reach{{DC: "dc1", Gateways: []string{"me:1", "other1:1"}}, {DC: "dc3", Gateways: []string{"g3:1"}}}})
	if got := tb.addrs(); !slices.Equal(got, []string{"cfg:1", "g2:1", "g3:1"}) {
		t.Fatalf("addrs %v", got)
	}
	// EWMA.
	tb.ok("g2:1", 10*time.Millisecond, &Advert{DC: "dc2"})
	tb.ok("g2:1", 20*time.Millisecond, &Advert{DC: "dc2"})
	if r := tb.peers["g2:1"].rtt; r != 13*time.Millisecond {
		t.Errorf("rtt %v", r)
	}
	// Down after two failures, forgotten after many (configured: never).
	tb.suspect("g2:1")
	if len(tb.route("dc2", false)) != 1 {
		t.Error("one failure took the gateway out")
	}
	tb.suspect("g2:1")
	if len(tb.route("dc2", false)) != 0 {
		t.Error("two failures did not")
	}
	for range forgetAfter {
		tb.suspect("g3:1")
		tb.suspect("cfg:1")
	}
	if got := tb.addrs(); !slices.Equal(got, []string{"cfg:1", "g2:1"}) {
		t.Fatalf("addrs after failures %v", got)
	}
	// A peer that turns out to be of our own DC is dropped.
	tb.ok("cfg:1", time.Millisecond, &Advert{DC: "dc1"})
	if _, ok := tb.peers["cfg:1"]; ok {
		t.Error("own-DC peer kept")
	}
}
