package structs

import "time"

// Autopilot and the other operator methods added with it.
const (
	// MethodOperatorAutopilotGetConfiguration reads the autopilot
	// configuration kept in Raft (DCSpecificRequest → AutopilotConfig).
	MethodOperatorAutopilotGetConfiguration Method = "Operator.AutopilotGetConfiguration"
	// MethodOperatorAutopilotSetConfiguration writes it, with CAS
	// (AutopilotSetConfigRequest → bool).
	MethodOperatorAutopilotSetConfiguration Method = "Operator.AutopilotSetConfiguration"
	// MethodOperatorServerHealth is the leader's view of every server's
	// health (DCSpecificRequest → OperatorHealthReply).
	MethodOperatorServerHealth Method = "Operator.ServerHealth"
	// MethodOperatorAutopilotState is the same view in autopilot's state
	// shape (DCSpecificRequest → AutopilotState).
	MethodOperatorAutopilotState Method = "Operator.AutopilotState"
	// MethodOperatorRaftTransferLeader hands leadership to another voter
	// (RaftLeaderTransferRequest → RaftLeaderTransferResponse).
	MethodOperatorRaftTransferLeader Method = "Operator.RaftLeaderTransfer"
	// MethodOperatorWANHealth answers `operator wan` for client agents
	// from a server's WAN view (DCSpecificRequest → WANHealthReply).
	MethodOperatorWANHealth Method = "Operator.WANHealth"
	// MethodStatusRaftStats is one server's Raft progress, which the
	// leader asks every server for (EmptyRequest → RaftStats).
	MethodStatusRaftStats Method = "Status.RaftStats"
)

// AutopilotConfig is autopilot's configuration, kept in Raft (the leader
// seeds it from its agent's `autopilot` stanza when none is stored).
type AutopilotConfig struct {
	// CleanupDeadServers lets the leader remove failed servers.
	CleanupDeadServers bool
	// LastContactThreshold: a server that has not heard from the leader
	// for longer is unhealthy.
	LastContactThreshold time.Duration
	// MaxTrailingLogs: a server further behind the leader's log is
	// unhealthy.
	MaxTrailingLogs uint64
	// MinQuorum is the fewest servers dead-server cleanup leaves.
	MinQuorum uint
	// ServerStabilizationTime is how long a server must stay healthy to
	// count as stable.
	ServerStabilizationTime time.Duration
	// RedundancyZoneTag, DisableUpgradeMigration and UpgradeVersionTag
	// are Consul Enterprise settings: stored and shown, no effect.
	RedundancyZoneTag       string
	DisableUpgradeMigration bool
	UpgradeVersionTag       string

	CreateIndex uint64
	ModifyIndex uint64
}

// AutopilotSetConfigRequest writes the autopilot configuration; with CAS
// only when the stored one's ModifyIndex is Config.ModifyIndex (0: only
// when none is stored).
type AutopilotSetConfigRequest struct {
	Datacenter string
	Config     AutopilotConfig
	CAS        bool
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *AutopilotSetConfigRequest) RequestDatacenter() string { return r.Datacenter }

// RaftStats is one server's Raft progress (Status.RaftStats).
type RaftStats struct {
	// LastContact is the time since this server last heard from the
	// leader, as Raft's stats give it ("never", "0" on the leader, or a
	// duration).
	LastContact string
	LastTerm    uint64
	LastIndex   uint64
}

// ServerHealth is one server in OperatorHealthReply.
type ServerHealth struct {
	ID          string
	Name        string
	Address     string
	SerfStatus  string
	Version     string
	Leader      bool
	LastContact time.Duration
	LastTerm    uint64
	LastIndex   uint64
	Healthy     bool
	Voter       bool
	StableSince time.Time
}

// OperatorHealthReply is /v1/operator/autopilot/health.
type OperatorHealthReply struct {
	Healthy          bool
	FailureTolerance int
	Servers          []ServerHealth
}

// AutopilotServer is one server in AutopilotState.
type AutopilotServer struct {
	ID          string
	Name        string
	Address     string
	NodeStatus  string
	Version     string
	LastContact time.Duration
	LastTerm    uint64
	LastIndex   uint64
	Healthy     bool
	StableSince time.Time
	ReadReplica bool
	// Status is "leader", "voter" or "non-voter"; NodeType "voter".
	Status   string
	Meta     map[string]string
	NodeType string
}

// AutopilotState is /v1/operator/autopilot/state.
type AutopilotState struct {
	Healthy                    bool
	FailureTolerance           int
	OptimisticFailureTolerance int
	Servers                    map[string]AutopilotServer
	Leader                     string
	Voters                     []string
}

// RaftLeaderTransferRequest asks the leader to hand leadership on, to ID
// when set.
type RaftLeaderTransferRequest struct {
	Datacenter string
	ID         string
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *RaftLeaderTransferRequest) RequestDatacenter() string { return r.Datacenter }

// RaftLeaderTransferResponse is /v1/operator/raft/transfer-leader.
type RaftLeaderTransferResponse struct {
	Success bool
}

// WANHealthReply carries a server's /v1/operator/wan answer, already in
// its JSON form, to a client agent.
type WANHealthReply struct {
	JSON []byte
}
