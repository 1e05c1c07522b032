package wan

import (
	"reflect"
	"testing"

	"github.com/hashicorp/serf/coordinate"

	"consulate/metrics"
	"consulate/structs"
)

func wanMember(name, addr, dc string, status structs.MemberStatus, wanJoinPort int, server bool) structs.Member {
	tags := structs.MemberTags{Datacenter: dc, Server: server, ServerPort: 8300, WANJoinPort: wanJoinPort}.Tags(nil)
	return structs.Member{Name: name, Addr: addr, Port: 8302, Tags: tags, Status: status}
}

func TestDatacenterCoordinatesGroupsAndOrders(t *testing.T) {
	coords := map[string]*coordinate.Coordinate{}
	for _, n := range []string{"a.dc1", "b.dc1", "c.dc2", "d.dc3", "f.dc2"} {
		coords[n] = coordinate.NewCoordinate(coordinate.DefaultConfig())
	}
	coordOf := func(name string) (*coordinate.Coordinate, bool) { c, ok := coords[name]; return c, ok }
	members := []structs.Member{
		wanMember("a.dc1", "10.0.1.1", "dc1", structs.StatusAlive, 0, true),
		wanMember("b.dc1", "10.0.1.2", "dc1", structs.StatusAlive, 0, true),
		wanMember("c.dc2", "10.0.2.1", "dc2", structs.StatusAlive, 0, true),
		wanMember("e.dc2", "10.0.2.2", "dc2", structs.StatusAlive, 0, true), // no coordinate yet
		wanMember("f.dc2", "10.0.2.3", "dc2", structs.StatusFailed, 0, true),
		wanMember("d.dc3", "10.0.3.1", "dc3", structs.StatusAlive, 0, true), // dc3 not in the order
	}
	got := datacenterCoordinates(members, coordOf, []string{"dc2", "dc1", "dc9"})
	type row struct {
		DC    string
		Nodes []string
	}
	var rows []row
	for _, m := range got {
		if m.AreaID != "wan" {
			t.Errorf("area %q", m.AreaID)
		}
		r := row{DC: m.Datacenter}
		for _, c := range m.Coordinates {
			if c.Coord != coords[c.Node] {
				t.Errorf("%s: wrong coordinate", c.Node)
			}
			r.Nodes = append(r.Nodes, c.Node)
		}
		rows = append(rows, r)
	}
	want := []row{{"dc2", []string{"c.dc2"}}, {"dc1", []string{"a.dc1", "b.dc1"}}}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("got %+v, want %+v", rows, want)
	}
	if got := datacenterCoordinates(nil, coordOf, []string{"dc1"}); got == nil || len(got) != 0 {
		t.Fatalf("no members: %v", got)
	}
}

// TestNilPool: a server with the WAN port disabled has no pool; the
// coordinates and RTTs it is asked for are empty, not a panic.
func TestNilPool(t *testing.T) {
	var p *Pool
	if got := p.DatacenterCoordinates([]string{"dc1"}); got == nil || len(got) != 0 {
		t.Fatalf("coordinates %v", got)
	}
	if _, ok := p.RTT("s1.dc1"); ok {
		t.Fatal("RTT known without a pool")
	}
}

func TestPoolRTTAndCollect(t *testing.T) {
	p := start(t, testConfig("s1", "dc1", "127.0.0.79", 1))
	if d, ok := p.RTT("s1.dc1"); !ok || d != 0 {
		t.Fatalf("RTT to self %v %v", d, ok)
	}
	if _, ok := p.RTT("nobody.dc2"); ok {
		t.Fatal("RTT to an unknown member")
	}
	if c, ok := p.MemberCoordinate("s1.dc1"); !ok || c == nil {
		t.Fatal("no own coordinate")
	}
	got := p.DatacenterCoordinates([]string{"dc1"})
	if len(got) != 1 || got[0].Datacenter != "dc1" || len(got[0].Coordinates) != 1 || got[0].Coordinates[0].Node != "s1.dc1" {
		t.Fatalf("coordinates %+v", got)
	}
	n := 0
	p.Collect(func(name string, l metrics.Labels, v float64) {
		n++
		if name != "consul.memberlist.health.score" || !reflect.DeepEqual(l, metrics.Labels{"network": "wan"}) {
			t.Errorf("gauge %s %v", name, l)
		}
	})
	if n != 1 {
		t.Fatalf("%d gauges", n)
	}
}

func TestFloodJoinAddrs(t *testing.T) {
	lan := []structs.Member{
		wanMember("me", "10.0.0.1", "dc1", structs.StatusAlive, 8302, true),      // self
		wanMember("s2", "10.0.0.2", "dc1", structs.StatusAlive, 8302, true),      // new: join
		wanMember("s3", "10.0.0.3", "dc1", structs.StatusAlive, 8302, true),      // already in WAN
		wanMember("s4", "10.0.0.4", "dc1", structs.StatusAlive, 0, true),         // WAN port off
		wanMember("s5", "10.0.0.5", "dc2", structs.StatusAlive, 8302, true),      // other DC
		wanMember("client", "10.0.0.6", "dc1", structs.StatusAlive, 8302, false), // not a server
		wanMember("s7", "10.0.0.7", "dc1", structs.StatusAlive, 9302, true),      // new, own port
	}
	wanMembers := []structs.Member{
		wanMember("me.dc1", "10.0.0.1", "dc1", structs.StatusAlive, 0, true),
		wanMember("s3.dc1", "10.0.0.3", "dc1", structs.StatusAlive, 0, true),
	}
	got := FloodJoinAddrs(lan, wanMembers, "dc1", "me")
	if want := []string{"10.0.0.2:8302", "10.0.0.7:9302"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := FloodJoinAddrs(lan[:1], nil, "dc1", "me"); len(got) != 0 {
		t.Fatalf("self only: %v", got)
	}
}
