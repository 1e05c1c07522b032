package structs

// Operator requests: the Raft configuration and snapshots.

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
