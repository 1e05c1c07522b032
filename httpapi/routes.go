package httpapi

import (
	"net/http"

	"consulate/structs"
)

const (
	get = http.MethodGet
	put = http.MethodPut
	del = http.MethodDelete
)

// routes builds the /v1 router.
func (s *Server) routes() http.Handler {
	rt := &router{exact: map[string]endpoint{}, s: s}
	if s.cfg.UI != nil {
		mux := http.NewServeMux()
		mux.Handle("/ui/", uiHandler{fsys: s.cfg.UI})
		mux.Handle("/ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
		mux.Handle("/{$}", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
		rt.other = mux
	}

	rt.handle("/v1/status/leader", s.statusLeader, get)
	rt.handle("/v1/status/peers", s.statusPeers, get)

	rt.handle("/v1/agent/self", s.agentSelf, get)
	rt.handle("/v1/agent/members", s.agentMembers, get)
	rt.handle("/v1/agent/metrics", s.agentMetrics, get)
	rt.handle("/v1/agent/monitor", s.agentMonitor, get)
	rt.handle("/v1/agent/services", s.agentServices, get)
	rt.handle("/v1/agent/checks", s.agentChecks, get)
	rt.handle("/v1/agent/service/", s.agentService, get)
	rt.handle("/v1/agent/service/register", s.agentServiceRegister, put)
	rt.handle("/v1/agent/service/deregister/", s.agentServiceDeregister, put)
	rt.handle("/v1/agent/service/deregister", s.agentServiceDeregister, put)
	rt.handle("/v1/agent/check/deregister", s.agentCheckDeregister, put)
	rt.handle("/v1/agent/service/maintenance/", s.agentServiceMaintenance, put)
	rt.handle("/v1/agent/check/register", s.agentCheckRegister, put)
	rt.handle("/v1/agent/check/deregister/", s.agentCheckDeregister, put)
	rt.handle("/v1/agent/check/pass/", s.checkStatusHandler("/v1/agent/check/pass/", structs.HealthPassing), put)
	rt.handle("/v1/agent/check/warn/", s.checkStatusHandler("/v1/agent/check/warn/", structs.HealthWarning), put)
	rt.handle("/v1/agent/check/fail/", s.checkStatusHandler("/v1/agent/check/fail/", structs.HealthCritical), put)
	rt.handle("/v1/agent/check/update/", s.agentCheckUpdate, put)
	rt.handle("/v1/agent/reload", s.agentReload, put)
	rt.handle("/v1/agent/leave", s.agentLeave, put)
	rt.handle("/v1/agent/join/", s.agentJoin, put)
	rt.handle("/v1/agent/force-leave/", s.agentForceLeave, put)
	rt.handle("/v1/agent/maintenance", s.agentNodeMaintenance, put)
	rt.handle("/v1/agent/host", s.agentHost, get)
	rt.handle("/v1/agent/version", s.agentVersion, get)
	rt.handle("/v1/agent/health/service/id/", s.agentHealthServiceByID, get)
	rt.handle("/v1/agent/health/service/name/", s.agentHealthServiceByName, get)

	rt.handle("/v1/catalog/register", s.catalogRegister, put)
	rt.handle("/v1/catalog/deregister", s.catalogDeregister, put)
	rt.handle("/v1/catalog/datacenters", s.catalogDatacenters, get)
	rt.handle("/v1/catalog/nodes", s.catalogNodes, get)
	rt.handle("/v1/catalog/services", s.catalogServices, get)
	rt.handle("/v1/catalog/service/", s.catalogService, get)
	rt.handle("/v1/catalog/node/", s.catalogNode, get)
	rt.handle("/v1/catalog/node-services/", s.catalogNodeServiceList, get)

	rt.handle("/v1/health/node/", s.healthNode, get)
	rt.handle("/v1/health/checks/", s.healthChecks, get)
	rt.handle("/v1/health/service/", s.healthService, get)
	rt.handle("/v1/health/state/", s.healthState, get)

	rt.handle("/v1/kv/", s.kv, get, put, del)
	rt.handle("/v1/txn", s.txn, put)

	rt.handle("/v1/session/create", s.sessionCreate, put)
	rt.handle("/v1/session/destroy/", s.sessionDestroy, put)
	rt.handle("/v1/session/info/", s.sessionInfo, get)
	rt.handle("/v1/session/node/", s.sessionNode, get)
	rt.handle("/v1/session/list", s.sessionList, get)
	rt.handle("/v1/session/renew/", s.sessionRenew, put)

	rt.handle("/v1/event/fire/", s.eventFire, put)
	rt.handle("/v1/event/list", s.eventList, get)

	rt.handle("/v1/operator/raft/configuration", s.raftConfiguration, get)
	rt.handle("/v1/operator/raft/peer", s.raftPeer, del)
	rt.handle("/v1/operator/raft/transfer-leader", s.raftTransferLeader, post)
	rt.handle("/v1/operator/autopilot/configuration", s.autopilotConfiguration, get, put)
	rt.handle("/v1/operator/autopilot/health", s.autopilotHealth, get)
	rt.handle("/v1/operator/autopilot/state", s.autopilotState, get)
	rt.handle("/v1/query", s.preparedQueries, get, post)
	rt.handle("/v1/query/", s.preparedQuery, get, put, del)
	rt.handle("/v1/operator/wan", s.operatorWAN, get)
	rt.handle("/v1/internal/ui/federation", s.uiFederation, get)
	rt.handle("/v1/internal/ui/services", s.uiServices, get)
	rt.handle("/v1/operator/keyring", s.operatorKeyring, get, post, put, del)
	rt.handle("/v1/snapshot", s.snapshot, get, put)
	rt.handle("/v1/coordinate/datacenters", s.coordinateDatacenters, get)
	rt.handle("/v1/coordinate/nodes", s.coordinateNodes, get)
	rt.handle("/v1/coordinate/node/", s.coordinateNode, get)
	rt.handle("/v1/coordinate/update", s.coordinateUpdate, put)

	rt.handle("/v1/acl/bootstrap", s.aclBootstrap, put)
	rt.handle("/v1/acl/replication", s.aclReplication, get)
	rt.handle("/v1/acl/token", s.aclTokenCreate, put)
	rt.handle("/v1/acl/token/", s.aclToken, get, put, del)
	rt.handle("/v1/acl/tokens", s.aclTokenList, get)
	rt.handle("/v1/acl/policy", s.aclPolicyCreate, put)
	rt.handle("/v1/acl/policy/", s.aclPolicy, get, put, del)
	rt.handle("/v1/acl/policy/name/", s.aclPolicyByName, get)
	rt.handle("/v1/acl/policies", s.aclPolicyList, get)
	rt.handle("/v1/acl/role", s.aclRoleCreate, put)
	rt.handle("/v1/acl/role/", s.aclRole, get, put, del)
	rt.handle("/v1/acl/role/name/", s.aclRoleByName, get)
	rt.handle("/v1/acl/roles", s.aclRoleList, get)
	rt.handle("/v1/agent/token/", s.agentToken, put)

	if s.cfg.EnableDebug || s.cfg.ACLsEnabled {
		rt.handle("/debug/pprof/", s.pprof, get, post)
	}
	return rt
}
