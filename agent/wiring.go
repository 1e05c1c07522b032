package agent

import (
	"consulate/dns"
	"consulate/federation"
	"consulate/httpapi"
	"consulate/lan"
	"consulate/rpcmux"
	"consulate/server"
)

// What the agent hands each piece satisfies the interface that piece
// declares.
var (
	// The router carries the server's calls for other datacenters.
	_ server.Forwarder = (*federation.Router)(nil)
	// Followers reach the leader through the connection pool.
	_ server.Caller = (*rpcmux.Pool)(nil)
	// Internal.EventFire broadcasts in the LAN pool.
	_ server.EventFirer = (*lan.Pool)(nil)
	// The router probes other datacenters' servers through the pool, and
	// drops a session stuck through a cut.
	_ federation.Prober = (*rpcmux.Pool)(nil)
	// The local server list calls through the pool.
	_ federation.Caller = (*rpcmux.Pool)(nil)
	// The HTTP API reaches the agent through its adapter.
	_ httpapi.Agent = (*httpAgent)(nil)
	// NAME.query lookups run through the prepared-query RPC.
	_ dns.QueryExecutor = (*dns.RPCQueries)(nil)
)
