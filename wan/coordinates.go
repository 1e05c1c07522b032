package wan

import (
	"time"

	"github.com/hashicorp/serf/coordinate"

	"consulate/structs"
)

// RTT estimates the round trip from this server to the WAN member name
// (zero for this server itself); ok is false while either coordinate is
// unknown. A nil Pool (no WAN port) knows none.
func (p *Pool) RTT(name string) (time.Duration, bool) {
	if p == nil {
		return 0, false
	}
	if name == p.LocalName() {
		return 0, true
	}
	other, ok := p.MemberCoordinate(name)
	me := p.Coordinate()
	if !ok || me == nil {
		return 0, false
	}
	return me.DistanceTo(other), true
}

// MemberCoordinate is a WAN member's network coordinate: this server's
// own, or the one last seen on a ping.
func (p *Pool) MemberCoordinate(name string) (*coordinate.Coordinate, bool) {
	if name == p.LocalName() {
		c := p.Coordinate()
		return c, c != nil
	}
	c, ok := p.GetCachedCoordinate(name)
	return c, ok && c != nil
}

// DatacenterCoordinates answers Coordinate.ListDatacenters: the
// coordinates of the alive WAN members, grouped by datacenter, in the
// order given (the router's, nearest first); datacenters not in order, and
// members without a coordinate, are left out. A nil Pool (no WAN port)
// answers an empty list.
func (p *Pool) DatacenterCoordinates(order []string) []*structs.DatacenterMap {
	if p == nil {
		return []*structs.DatacenterMap{}
	}
	return datacenterCoordinates(p.Members(), p.MemberCoordinate, order)
}

func datacenterCoordinates(members []structs.Member, coordOf func(string) (*coordinate.Coordinate, bool), order []string) []*structs.DatacenterMap {
	byDC := map[string]*structs.DatacenterMap{}
	for _, m := range members {
		if m.Status != structs.StatusAlive {
			continue
		}
		dc := m.Tags[structs.TagDatacenter]
		c, ok := coordOf(m.Name)
		if !ok {
			continue
		}
		if byDC[dc] == nil {
			byDC[dc] = &structs.DatacenterMap{Datacenter: dc, AreaID: "wan"}
		}
		byDC[dc].Coordinates = append(byDC[dc].Coordinates, &structs.Coordinate{Node: m.Name, Coord: c})
	}
	out := make([]*structs.DatacenterMap, 0, len(byDC))
	for _, dc := range order {
		if m := byDC[dc]; m != nil {
			out = append(out, m)
		}
	}
	return out
}
