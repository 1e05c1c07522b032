// Package structs holds the wire types that cross package boundaries inside
// Consulate: RPC requests and replies between agents and servers, the rows of
// the catalog, and the shapes the HTTP API encodes. Field names follow
// Consul's HTTP API so that values can be encoded to JSON as they are.
//
// It is not for behaviour: no I/O, no locking, only types and small helpers
// on them. One file per subject:
//
//	methods.go        RPC method names (Method) and the routing ids Datacenter, ServerAddr
//	errors.go         errors that cross the RPC boundary, their codes, RemoteError
//	query.go          QueryOptions/QueryMeta (consistency, blocking), WriteRequest, RPCInfo
//	members.go        gossip members, their tags (MemberTags) and ParseServer
//	catalog.go        nodes, services, checks and their requests
//	stream.go         Subscribe.ServiceHealth: the live stream client views follow
//	definitions.go    service and check definitions as the agent takes them
//	kv.go             KV entries, sessions, transactions
//	preparedquery.go  prepared queries
//	coordinates.go    network coordinates (LAN per node, WAN per datacenter)
//	events.go         user events
//	operator.go       Raft configuration and snapshots
//	autopilot.go      autopilot configuration and server health, leadership transfer, Status.RaftStats, Operator.WANHealth
package structs
