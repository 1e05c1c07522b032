// Package federation routes requests between datacenters: it keeps, for
// every datacenter it has heard of on the WAN pool, the servers that can
// answer for it, orders them by estimated round-trip time, skips failed
// ones, and forwards a call to the first that answers. It also forwards to
// the local leader, orders prepared-query failover targets, and keeps the
// per-datacenter figures that `operator wan` and the metrics show.
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
