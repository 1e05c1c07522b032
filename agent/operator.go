package agent

import (
	"context"
	"time"

	"consulate/config"
	"consulate/structs"
)

// autopilotSeed is the autopilot configuration a server's first leader
// stores in Raft (cleanup_dead_servers travels on its own field).
func autopilotSeed(rt *config.Runtime) structs.AutopilotConfig {
	ap := rt.Autopilot
	return structs.AutopilotConfig{
		CleanupDeadServers:      rt.AutopilotCleanupDeadServers,
		LastContactThreshold:    ap.LastContactThreshold,
		MaxTrailingLogs:         ap.MaxTrailingLogs,
		MinQuorum:               ap.MinQuorum,
		ServerStabilizationTime: ap.ServerStabilizationTime,
		RedundancyZoneTag:       ap.RedundancyZoneTag,
		DisableUpgradeMigration: ap.DisableUpgradeMigration,
		UpgradeVersionTag:       ap.UpgradeVersionTag,
	}
}

// serverWANHealth is the WAN view a server gives client agents
// (server.Deps.WANHealth, Operator.WANHealth).
func (a *Agent) serverWANHealth(ctx context.Context) any {
	return a.router.HealthWithLeaders(ctx, a.RPC)
}

// uiFederation is the UI's federation view on a server (httpapi's and
// server.Deps' UIFederation): the router's WAN view with leaders, the
// RTT matrix from the WAN coordinates and the WAN event log, blocking
// while its index is not past minIndex.
func (a *Agent) uiFederation(ctx context.Context, minIndex uint64, wait time.Duration) (any, uint64) {
	return a.router.UIFederation(ctx, a.RPC, a.wanCoordinates, minIndex, wait)
}
