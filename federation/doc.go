// Package federation routes requests between datacenters: it keeps, for
// every datacenter it has heard of on the WAN pool, the servers that can
// answer for it, orders them by estimated round-trip time, skips failed
// ones, and forwards a call to the first that answers (Router is the
// server's Forwarder; calls to the local leader go through the server's own
// connection pool, not here). It also orders prepared-query failover
// targets, keeps the per-datacenter figures (flaps included) that
// `operator wan` and the metrics show, and feeds client agents their list of
// local servers (LocalServers).
//
// Run probes the servers of the other datacenters in the background, so
// the router knows within about a second that a datacenter stopped
// answering (calls for it then fail at once instead of each waiting out a
// timeout) and within a few hundred milliseconds that it is back. A server
// counts as down or up by the newest evidence: a probe, a call, or gossip
// marking it failed or alive.
//
// It is not for membership (that is wan/) nor for the wire (rpcmux/); it
// is handed both through small interfaces.
package federation
