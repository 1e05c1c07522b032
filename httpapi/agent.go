package httpapi

import (
	"context"

	"consulate/acl"
	"consulate/structs"
)

// Agent is everything the HTTP API needs from the agent. All methods must
// be safe for concurrent use; methods taking a ctx may block on the
// network and must return when it is done.
type Agent interface {
	// RPC calls a server (structs.Method*, pointer args and reply); the
	// server side honours QueryOptions (blocking, consistency).
	RPC(ctx context.Context, method structs.Method, args, reply any) error
	// Self describes the agent for /v1/agent/self. Must not block.
	Self() Self
	// Members lists the LAN pool, or the WAN pool when wan is set (an
	// empty list on a client agent). Must not block.
	Members(wan bool) []structs.Member
	// Join joins the LAN (or WAN) pool through addrs and returns how many
	// were contacted.
	Join(ctx context.Context, addrs []string, wan bool) (int, error)
	// Leave leaves the cluster gracefully; the agent shuts down after.
	Leave(ctx context.Context) error
	// ForceLeave marks node as left (prune: also forget it at once).
	ForceLeave(ctx context.Context, node string, prune, wan bool) error
	// Reload re-reads configuration files.
	Reload(ctx context.Context) error
	// Authorize resolves a request's token secret ("" is the anonymous
	// token) for the agent-local endpoints: what it may do and its
	// AccessorID ("" when unknown, e.g. under the down policy). An unknown
	// secret is structs.ErrACLNotFound. With ACLs off it returns
	// acl.ManageAll(), as Consul.
	Authorize(ctx context.Context, secret string) (authz acl.Authorizer, accessor string, err error)

	Local
	// FireEvent sends a user event in datacenter dc ("" = local) with
	// the request's token ("" = the agent's default token; the servers
	// check event:write); the agent fills ev.ID and ev.LTime when it can.
	FireEvent(ctx context.Context, ev *structs.UserEvent, dc, token string) error
	// UserEvents returns the recent user events seen, oldest first.
	UserEvents() []*structs.UserEvent
	// SetAgentToken sets one of the agent's own ACL tokens (PUT
	// /v1/agent/token/:type); kind is one of the AgentToken* constants
	// (legacy names are mapped before the call). It persists the token
	// when token persistence is on. When ACLs are disabled it returns an
	// error whose text holds "ACL support disabled" (HTTP 401); when the
	// caller may not (agent:write) it wraps structs.ErrPermissionDenied.
	SetAgentToken(kind, secret string) error
}

// Kinds of agent token for Agent.SetAgentToken.
const (
	AgentTokenDefault                       = "default"
	AgentTokenAgent                         = "agent"
	AgentTokenAgentRecovery                 = "agent_recovery"
	AgentTokenReplication                   = "replication"
	AgentTokenConfigFileServiceRegistration = "config_file_service_registration"
)

// Local is the agent's own services and checks. Errors that are the
// caller's fault should be *structs.BadRequestError (400); unknown IDs
// should wrap structs.ErrNotFound (404).
type Local interface {
	// AddService registers or replaces a service and its checks; with
	// replaceExisting, checks of the service absent from def are removed.
	// token is the request's ACL token ("" when it carried none): the
	// service and its checks sync to the catalog with it, as in Consul.
	AddService(def *structs.ServiceDefinition, replaceExisting bool, token string) error
	// RemoveService deregisters a service and its checks.
	RemoveService(id string) error
	// Services returns copies of the local services by ID.
	Services() map[string]*structs.NodeService
	// Checks returns copies of the local checks by ID.
	Checks() map[string]*structs.HealthCheck
	// AddCheck registers or replaces a check (ServiceID may tie it to a
	// local service); token is as AddService's.
	AddCheck(ct *structs.CheckType, token string) error
	// RemoveCheck deregisters a check.
	RemoveCheck(id string) error
	// UpdateTTLCheck sets a TTL check's status (passing|warning|critical)
	// and output, resetting its TTL.
	UpdateTTLCheck(id, status, output string) error
	// ServiceMaintenance puts a service in or out of maintenance; token
	// is the request's, which the maintenance check syncs with (as
	// AddService's).
	ServiceMaintenance(id string, enable bool, reason, token string) error
	// NodeMaintenance puts the whole node in or out of maintenance; token
	// is as ServiceMaintenance's.
	NodeMaintenance(enable bool, reason, token string) error
	// SyncChanges sends the local changes made so far to the servers and
	// returns when the catalog has them, so a client reads its own write.
	// It gives up with an error when no server answers in time (bounded
	// by the agent), leaving the changes for anti-entropy, and returns
	// when ctx is done.
	SyncChanges(ctx context.Context) error
	// LocalChanged returns a channel closed at the next change to local
	// services, checks or user events after the call (a fresh channel
	// each change). It may return nil, in which case agent-local blocking
	// reads poll.
	LocalChanged() <-chan struct{}
}

// Self is what /v1/agent/self reports.
type Self struct {
	NodeName   string
	NodeID     string
	Datacenter string
	Server     bool
	Version    string
	Revision   string
	// BuildDate is the RFC 3339 build time ("" when unknown).
	BuildDate     string
	BindAddr      string
	AdvertiseAddr string
	// Stats is shown under "Stats" (e.g. "agent", "raft", "serf_lan").
	Stats map[string]map[string]string
	// Member is this agent's own LAN member entry.
	Member structs.Member
	// DebugConfig is shown as is under "DebugConfig".
	DebugConfig map[string]any
	// Meta is the node metadata.
	Meta map[string]string
}
