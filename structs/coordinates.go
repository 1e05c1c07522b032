package structs

import (
	"sort"
	"time"

	"github.com/hashicorp/serf/coordinate"
)

// Network coordinates, LAN (per node) and WAN (per datacenter).

// Coordinate is a node's network coordinate.
type Coordinate struct {
	Node        string
	Segment     string
	Coord       *coordinate.Coordinate
	CreateIndex uint64 `json:",omitempty"`
	ModifyIndex uint64 `json:",omitempty"`
}

// Coordinates is a list of coordinates.
type Coordinates []*Coordinate

// CoordinateUpdateRequest sends a node's coordinate to the servers.
type CoordinateUpdateRequest struct {
	Datacenter string
	Node       string
	Coord      *coordinate.Coordinate
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *CoordinateUpdateRequest) RequestDatacenter() string { return r.Datacenter }

// IndexedCoordinates is the reply to Coordinate.ListNodes.
type IndexedCoordinates struct {
	Coordinates Coordinates
	QueryMeta
}

// DatacenterMap is one datacenter's WAN coordinates.
type DatacenterMap struct {
	Datacenter  string
	AreaID      string
	Coordinates Coordinates
}

// SortByDistance orders items by estimated RTT from the node named from,
// nearest first, using coords (a datacenter's LAN coordinates); items
// without a compatible coordinate keep their order after the rest. It
// does nothing (and returns false) when from has no coordinate or there
// is nothing to order. The one implementation of ?near=, shared by the
// servers (their state store's coordinates) and client views.
func SortByDistance[T any](coords Coordinates, from string, items []T, node func(T) string) bool {
	if from == "" || len(items) < 2 || len(coords) == 0 {
		return false
	}
	byNode := make(map[string]*coordinate.Coordinate, len(coords))
	for _, c := range coords {
		byNode[c.Node] = c.Coord
	}
	src := byNode[from]
	if src == nil {
		return false
	}
	const unknown = time.Duration(1<<63 - 1)
	dist := make([]time.Duration, len(items))
	for i, it := range items {
		dist[i] = unknown
		if to := byNode[node(it)]; to != nil && src.IsCompatibleWith(to) {
			dist[i] = src.DistanceTo(to)
		}
	}
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return dist[idx[a]] < dist[idx[b]] })
	sorted := make([]T, len(items))
	for i, j := range idx {
		sorted[i] = items[j]
	}
	copy(items, sorted)
	return true
}
