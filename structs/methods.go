package structs

// Method names an RPC endpoint. It is a type of its own so that a method
// cannot be passed where a datacenter or an address is expected; the wire
// carries it as a plain string.
type Method string

// RPC method names. Every server answers these; agents and remote
// datacenters reach them through the same names. The request and reply
// types are the ones server/ registers for each (see server.buildEndpoints).
const (
	MethodStatusLeader Method = "Status.Leader"
	MethodStatusPeers  Method = "Status.Peers"
	MethodStatusPing   Method = "Status.Ping"

	MethodCatalogRegister     Method = "Catalog.Register"
	MethodCatalogDeregister   Method = "Catalog.Deregister"
	MethodCatalogDatacenters  Method = "Catalog.ListDatacenters"
	MethodCatalogListNodes    Method = "Catalog.ListNodes"
	MethodCatalogListServices Method = "Catalog.ListServices"
	MethodCatalogServiceNodes Method = "Catalog.ServiceNodes"
	MethodCatalogNodeServices Method = "Catalog.NodeServices"

	MethodHealthNodeChecks    Method = "Health.NodeChecks"
	MethodHealthServiceChecks Method = "Health.ServiceChecks"
	MethodHealthServiceNodes  Method = "Health.ServiceNodes"
	MethodHealthChecksInState Method = "Health.ChecksInState"

	MethodKVSApply    Method = "KVS.Apply"
	MethodKVSGet      Method = "KVS.Get"
	MethodKVSList     Method = "KVS.List"
	MethodKVSListKeys Method = "KVS.ListKeys"

	MethodSessionApply    Method = "Session.Apply"
	MethodSessionGet      Method = "Session.Get"
	MethodSessionList     Method = "Session.List"
	MethodSessionNodeList Method = "Session.NodeSessions"
	MethodSessionRenew    Method = "Session.Renew"

	MethodTxnApply Method = "Txn.Apply"
	MethodTxnRead  Method = "Txn.Read"

	// MethodEventFire fires a user event (EventFireRequest →
	// EventFireResponse) in the request's datacenter.
	MethodEventFire Method = "Internal.EventFire"
	// MethodKeyringOperation applies a gossip keyring operation
	// (KeyringRequest → KeyringResponses) to the WAN pool and the LAN pool
	// of every datacenter.
	MethodKeyringOperation Method = "Internal.KeyringOperation"

	MethodCoordinateUpdate    Method = "Coordinate.Update"
	MethodCoordinateListNodes Method = "Coordinate.ListNodes"
	// MethodCoordinateListDatacenters lists the WAN coordinates of every
	// known datacenter (DCSpecificRequest → []*DatacenterMap).
	MethodCoordinateListDatacenters Method = "Coordinate.ListDatacenters"

	MethodOperatorRaftConfiguration Method = "Operator.RaftGetConfiguration"
	MethodOperatorRaftRemovePeer    Method = "Operator.RaftRemovePeerByAddress"

	// Snapshot methods run on the leader (forwarded there).
	MethodSnapshotSave    Method = "Snapshot.Save"
	MethodSnapshotRestore Method = "Snapshot.Restore"

	MethodPreparedQueryApply         Method = "PreparedQuery.Apply"
	MethodPreparedQueryGet           Method = "PreparedQuery.Get"
	MethodPreparedQueryList          Method = "PreparedQuery.List"
	MethodPreparedQueryExecute       Method = "PreparedQuery.Execute"
	MethodPreparedQueryExecuteRemote Method = "PreparedQuery.ExecuteRemote"
	MethodPreparedQueryExplain       Method = "PreparedQuery.Explain"

	// ACL methods; types in acl.go.
	MethodACLBootstrap         Method = "ACL.Bootstrap"
	MethodACLTokenSet          Method = "ACL.TokenSet"
	MethodACLTokenRead         Method = "ACL.TokenRead"
	MethodACLTokenDelete       Method = "ACL.TokenDelete"
	MethodACLTokenList         Method = "ACL.TokenList"
	MethodACLPolicySet         Method = "ACL.PolicySet"
	MethodACLPolicyRead        Method = "ACL.PolicyRead"
	MethodACLPolicyDelete      Method = "ACL.PolicyDelete"
	MethodACLPolicyList        Method = "ACL.PolicyList"
	MethodACLRoleSet           Method = "ACL.RoleSet"
	MethodACLRoleRead          Method = "ACL.RoleRead"
	MethodACLRoleDelete        Method = "ACL.RoleDelete"
	MethodACLRoleList          Method = "ACL.RoleList"
	MethodACLResolve           Method = "ACL.Resolve"
	MethodACLReplicationStatus Method = "ACL.ReplicationStatus"
	// MethodACLTokenListReplication lists every global token in full
	// (ACLTokenListRequest → ACLTokensResponse), for the replication of a
	// secondary datacenter's leader.
	MethodACLTokenListReplication Method = "ACL.TokenListReplication"
)

// Datacenter names a datacenter on the routing paths (server → federation
// → a remote server). Request structs keep Datacenter as a plain string
// field, as on Consul's wire.
type Datacenter string

// ServerAddr is a server's RPC address, host:port, on the routing paths.
type ServerAddr string
