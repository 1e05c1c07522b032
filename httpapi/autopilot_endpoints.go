package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"consulate/structs"
)

// readableDuration is a duration as Consul's API writes it ("200ms") and
// reads it (that, or a number of nanoseconds).
type readableDuration time.Duration

// MarshalJSON implements json.Marshaler.
func (d readableDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *readableDuration) UnmarshalJSON(raw []byte) error {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = readableDuration(v)
		return nil
	}
	var n float64
	if err := json.Unmarshal(raw, &n); err != nil {
		return fmt.Errorf("a duration must be a string or a number: %s", raw)
	}
	*d = readableDuration(time.Duration(n))
	return nil
}

// autopilotConfigJSON is api.AutopilotConfiguration.
type autopilotConfigJSON struct {
	CleanupDeadServers      bool
	LastContactThreshold    *readableDuration
	MaxTrailingLogs         uint64
	MinQuorum               uint
	ServerStabilizationTime *readableDuration
	RedundancyZoneTag       string
	DisableUpgradeMigration bool
	UpgradeVersionTag       string
	CreateIndex             uint64
	ModifyIndex             uint64
}

// autopilotConfiguration serves /v1/operator/autopilot/configuration:
// GET reads it, PUT writes it (with ?cas=, answering true or false).
func (s *Server) autopilotConfiguration(w http.ResponseWriter, r *http.Request) (any, error) {
	if r.Method == http.MethodPut {
		return s.autopilotSetConfiguration(r)
	}
	var args structs.DCSpecificRequest
	if _, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions); err != nil {
		return nil, err
	}
	var c structs.AutopilotConfig
	if err := s.agent.RPC(r.Context(), structs.MethodOperatorAutopilotGetConfiguration, &args, &c); err != nil {
		return nil, err
	}
	lct, sst := readableDuration(c.LastContactThreshold), readableDuration(c.ServerStabilizationTime)
	return autopilotConfigJSON{
		CleanupDeadServers: c.CleanupDeadServers, LastContactThreshold: &lct, MaxTrailingLogs: c.MaxTrailingLogs,
		MinQuorum: c.MinQuorum, ServerStabilizationTime: &sst, RedundancyZoneTag: c.RedundancyZoneTag,
		DisableUpgradeMigration: c.DisableUpgradeMigration, UpgradeVersionTag: c.UpgradeVersionTag,
		CreateIndex: c.CreateIndex, ModifyIndex: c.ModifyIndex,
	}, nil
}

func (s *Server) autopilotSetConfiguration(r *http.Request) (any, error) {
	var args structs.AutopilotSetConfigRequest
	parseWrite(r, &args.Datacenter, &args.WriteRequest)
	var in autopilotConfigJSON
	if err := s.decodeBody(r, &in, false, false); err != nil {
		return nil, err
	}
	args.Config = structs.AutopilotConfig{
		CleanupDeadServers: in.CleanupDeadServers, MaxTrailingLogs: in.MaxTrailingLogs, MinQuorum: in.MinQuorum,
		RedundancyZoneTag: in.RedundancyZoneTag, DisableUpgradeMigration: in.DisableUpgradeMigration,
		UpgradeVersionTag: in.UpgradeVersionTag,
	}
	if in.LastContactThreshold != nil {
		args.Config.LastContactThreshold = time.Duration(*in.LastContactThreshold)
	}
	if in.ServerStabilizationTime != nil {
		args.Config.ServerStabilizationTime = time.Duration(*in.ServerStabilizationTime)
	}
	if v := query(r).Get("cas"); v != "" {
		idx, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, badRequest("Error parsing cas value: %v", err)
		}
		args.CAS, args.Config.ModifyIndex = true, idx
	}
	var ok bool
	if err := s.agent.RPC(r.Context(), structs.MethodOperatorAutopilotSetConfiguration, &args, &ok); err != nil {
		return nil, err
	}
	// Without cas Consul answers true whatever the store said.
	return ok || !args.CAS, nil
}

// serverHealthJSON is api.ServerHealth.
type serverHealthJSON struct {
	ID          string
	Name        string
	Address     string
	SerfStatus  string
	Version     string
	Leader      bool
	LastContact readableDuration
	LastTerm    uint64
	LastIndex   uint64
	Healthy     bool
	Voter       bool
	StableSince time.Time
}

// autopilotHealth serves /v1/operator/autopilot/health: 200 when every
// server is healthy, 429 (with the same body) when not, as Consul.
func (s *Server) autopilotHealth(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.DCSpecificRequest
	if _, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions); err != nil {
		return nil, err
	}
	var h structs.OperatorHealthReply
	if err := s.agent.RPC(r.Context(), structs.MethodOperatorServerHealth, &args, &h); err != nil {
		return nil, err
	}
	out := struct {
		Healthy          bool
		FailureTolerance int
		Servers          []serverHealthJSON
	}{Healthy: h.Healthy, FailureTolerance: h.FailureTolerance, Servers: []serverHealthJSON{}}
	for _, sh := range h.Servers {
		out.Servers = append(out.Servers, serverHealthJSON{
			ID: sh.ID, Name: sh.Name, Address: sh.Address, SerfStatus: sh.SerfStatus, Version: sh.Version,
			Leader: sh.Leader, LastContact: readableDuration(sh.LastContact), LastTerm: sh.LastTerm,
			LastIndex: sh.LastIndex, Healthy: sh.Healthy, Voter: sh.Voter, StableSince: sh.StableSince,
		})
	}
	if !h.Healthy {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		json.NewEncoder(w).Encode(out)
		return nil, nil
	}
	return out, nil
}

// autopilotServerJSON is api.AutopilotServer.
type autopilotServerJSON struct {
	ID          string
	Name        string
	Address     string
	NodeStatus  string
	Version     string
	LastContact readableDuration
	LastTerm    uint64
	LastIndex   uint64
	Healthy     bool
	StableSince time.Time
	ReadReplica bool
	Status      string
	Meta        map[string]string
	NodeType    string
}

// autopilotState serves /v1/operator/autopilot/state.
func (s *Server) autopilotState(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.DCSpecificRequest
	if _, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions); err != nil {
		return nil, err
	}
	var st structs.AutopilotState
	if err := s.agent.RPC(r.Context(), structs.MethodOperatorAutopilotState, &args, &st); err != nil {
		return nil, err
	}
	out := struct {
		Healthy                    bool
		FailureTolerance           int
		OptimisticFailureTolerance int
		Servers                    map[string]autopilotServerJSON
		Leader                     string
		Voters                     []string
	}{Healthy: st.Healthy, FailureTolerance: st.FailureTolerance, OptimisticFailureTolerance: st.OptimisticFailureTolerance,
		Servers: map[string]autopilotServerJSON{}, Leader: st.Leader, Voters: st.Voters}
	if out.Voters == nil {
		out.Voters = []string{}
	}
	for id, sv := range st.Servers {
		meta := sv.Meta
		if meta == nil {
			meta = map[string]string{}
		}
		out.Servers[id] = autopilotServerJSON{
			ID: sv.ID, Name: sv.Name, Address: sv.Address, NodeStatus: sv.NodeStatus, Version: sv.Version,
			LastContact: readableDuration(sv.LastContact), LastTerm: sv.LastTerm, LastIndex: sv.LastIndex,
			Healthy: sv.Healthy, StableSince: sv.StableSince, ReadReplica: sv.ReadReplica, Status: sv.Status,
			Meta: meta, NodeType: sv.NodeType,
		}
	}
	return out, nil
}

// raftTransferLeader serves POST /v1/operator/raft/transfer-leader[?id=].
func (s *Server) raftTransferLeader(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.RaftLeaderTransferRequest
	parseWrite(r, &args.Datacenter, &args.WriteRequest)
	args.ID = query(r).Get("id")
	var out structs.RaftLeaderTransferResponse
	if err := s.agent.RPC(r.Context(), structs.MethodOperatorRaftTransferLeader, &args, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// operatorWANFromServer answers /v1/operator/wan on a client agent with a
// server's view (Operator.WANHealth), written as the server wrote it.
func (s *Server) operatorWANFromServer(r *http.Request) (any, error) {
	var args structs.DCSpecificRequest
	if _, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions); err != nil {
		return nil, err
	}
	// Any server's view will do: the WAN pool is the same everywhere.
	args.AllowStale = true
	var out structs.WANHealthReply
	if err := s.agent.RPC(r.Context(), structs.MethodOperatorWANHealth, &args, &out); err != nil {
		return nil, err
	}
	return json.RawMessage(out.JSON), nil
}
