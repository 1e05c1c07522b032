package structs

import "github.com/hashicorp/serf/coordinate"

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
