package structs

import (
	"time"

	"github.com/hashicorp/serf/coordinate"
)

// UserEvent is a user event as /v1/event/list shows it.
type UserEvent struct {
	ID            string
	Name          string
	Payload       []byte
	NodeFilter    string
	ServiceFilter string
	TagFilter     string
	Version       int
	LTime         uint64
}

// EventFireRequest fires a user event in a datacenter.
type EventFireRequest struct {
	Datacenter string
	Name       string
	Payload    []byte
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *EventFireRequest) RequestDatacenter() string { return r.Datacenter }

// EventFireResponse is the reply to Internal.EventFire.
type EventFireResponse struct {
	QueryMeta
}

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

// RaftServer is one entry of the Raft configuration.
type RaftServer struct {
	ID              string
	Node            string
	Address         string
	Leader          bool
	ProtocolVersion string
	Voter           bool
}

// RaftConfigurationResponse is /v1/operator/raft/configuration.
type RaftConfigurationResponse struct {
	Servers []*RaftServer
	Index   uint64
}

// RaftRemovePeerRequest removes a server from the Raft configuration.
type RaftRemovePeerRequest struct {
	Datacenter string
	Address    string
	ID         string
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *RaftRemovePeerRequest) RequestDatacenter() string { return r.Datacenter }

// Duration is a time.Duration that encodes as Go's duration string; used
// where Consul's JSON carries "10s" style values.
type Duration time.Duration

// SnapshotRequest asks for a snapshot archive, or restores one.
type SnapshotRequest struct {
	Datacenter string
	// Archive is the archive to restore (Snapshot.Restore only).
	Archive []byte
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *SnapshotRequest) RequestDatacenter() string { return r.Datacenter }

// SnapshotResponse carries a saved archive and the index it covers.
type SnapshotResponse struct {
	Archive []byte
	Index   uint64
}
