// Package federation routes requests between datacenters: it keeps, for
// every datacenter it has heard of on the WAN pool, the servers that can
// answer for it, orders them by estimated round-trip time, skips failed
// ones, and forwards a call to the first that answers. It also forwards to
// the local leader, orders prepared-query failover targets, and keeps the
// per-datacenter figures that `operator wan` and the metrics show.
//
// It is not for membership (that is wan/) nor for the wire (rpcmux/); it
// is handed both through small interfaces.
package federation
