package agent

import (
	"github.com/hashicorp/raft"

	"consulate/config"
)

// raftLogConfig sets how a server compacts its raft log (Consul's
// raft_snapshot_threshold, raft_snapshot_interval, raft_trailing_logs).
func raftLogConfig(rc *raft.Config, rt *config.Runtime) {
	rc.SnapshotThreshold = uint64(rt.RaftSnapshotThreshold)
	rc.SnapshotInterval = rt.RaftSnapshotInterval
	rc.TrailingLogs = uint64(rt.RaftTrailingLogs)
}
