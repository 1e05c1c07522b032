// Package gateway is the federation gateway: one port per gateway that
// carries cross-datacenter traffic, so that the servers of a datacenter
// reach other datacenters only through their local gateways and never
// need a route to a remote server.
//
// # Where it runs
//
// A gateway is a feature of an agent (normally a client agent, `gateway {
// enabled = true }`), not a process of its own. It needs its datacenter's
// live server list, which the agent's LAN gossip already gives with
// failure detection, and the servers find the gateways the same way: a
// gateway's LAN member carries the tag "gw" = its advertised address. A
// separate program would have to rebuild both.
//
// # The wire protocol (wire.go)
//
// A connection starts with "CGW1", a 2-byte header length (at most
// MaxHeaderLen) and a JSON Header naming the destination datacenter and
// server, like TLS SNI names a host: routing is by datacenter name, and
// nothing after the header is read by a gateway, so the servers' TLS runs
// end to end. The gateway answers with one Status frame once the whole
// path is up, then splices bytes both ways untouched. Header kinds: conn
// (a byte stream to a server), info (what a gateway knows of its
// datacenter; joins and operators use it) and probe (gateway to gateway).
//
// A gateway is not an open relay: a conn for its own datacenter goes only
// to a known alive server's RPC address; another datacenter's only to a
// gateway of the routing table (or, on the first hop, to an explicit
// Next gateway, which is how a server joins a datacenter it does not know
// yet).
//
// # Routing (routes.go)
//
// Each gateway probes every remote gateway it knows (configured peers and
// those learned from adverts) every interval. A probe carries the
// sender's Advert and the answer the receiver's: the gateways of its
// datacenter and the datacenters it reaches directly. A route to a
// datacenter is its own alive gateways by RTT, then the gateways of one
// transit datacenter that reaches it directly. Adverts list only direct
// reach, so a path has at most one transit datacenter and no
// count-to-infinity. A gateway is down after two consecutive failures
// (probes, or dials of it as a candidate, which also move it to the end
// of the order at once).
//
// # WAN gossip is tunnelled, not replaced
//
// Servers keep their WAN pool; in gateway mode its packets and streams
// to other datacenters ride conn streams through the gateways (the
// server side lives in rpcmux and wan, the Dialer here). So `members
// -wan` still lists every server, network coordinates measure the real
// path (through the gateways), and failure detection and its timers stay
// as they are. Replacing the pool with gateway health exchange would
// have meant a second membership and a second failure detector.
//
// The package is not a load balancer or a TLS terminator, and it does
// not know what the bytes it carries mean.
package gateway
