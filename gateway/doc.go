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
// to a known alive server (named by its LAN or WAN RPC address, dialled
// at the LAN one); another datacenter's only to a gateway of the routing
// table. A conn may not name a Next hop at all. An info may, on the
// first hop and only from the IP of an alive server of the gateway's own
// datacenter: that is how a server joins a datacenter it does not know
// yet. The gateway then asks Next for its info and relays the answer,
// never a byte stream. A Next that cannot be dialled is refused as "is
// unreachable" with the dial's reason, one that answers as something
// else as "did not answer as a gateway"; only local servers may ask, so
// this tells nobody else which ports are open behind the gateway.
//
// # Routing (routes.go)
//
// Each gateway probes every remote gateway it knows (configured peers and
// those learned from answers) every interval. A probe request carries
// the sender's datacenter and that datacenter's gateways (not its direct
// reach, to keep the header small); the answer carries the receiver's
// whole Advert: its datacenter's gateways and the datacenters it reaches
// directly. A route to a datacenter is its own alive gateways by RTT,
// then the gateways of the transit datacenters that reach it directly,
// by RTT through the transit: several transit datacenters may be tried,
// each as the one transit of its path. Adverts list only direct reach,
// so a path has at most one transit datacenter and no count-to-infinity.
// A gateway is down after two consecutive failures (probes, or dials of
// it as a candidate, which also move it to the end of the order at
// once).
//
// # Timing
//
// A gateway gives all the candidates of one request one deadline
// (statusWait: HandshakeTimeout plus a DialTimeout per hop still
// possible), each dial also bounded by DialTimeout; a gateway further
// along the path has less time than the one before it, so the refusal
// that names the failing hop arrives before anyone upstream gives up.
// A Dialer gives one request 10×DialTimeout (or the caller's deadline,
// if sooner) over all its local gateways; when the caller gives up, the
// error is the caller's and no gateway is counted as failed.
//
// # Trust
//
// The gateway port has no authentication yet: anyone who reaches it can
// speak the protocol. What limits the damage:
//   - conns go only to local servers and to gateways of the table, and
//     Next only to an info exchange asked by a local server (above);
//   - an inbound probe teaches only the prober's own addresses (those
//     whose host is the connection's remote IP), never third parties;
//   - a gateway's datacenter is what it answers a probe as, never what
//     others advertise of it; a learned (not configured) gateway counts
//     as one of datacenter X only if something of X vouched for it: a
//     gateway answering as X listed it (its own answer listing itself
//     counts), or it probed this gateway as X from that address;
//   - what adverts say is bounded (RTTs clamped to [0, 60 s], at most
//     256 direct datacenters of 16 gateways each, 64 gateways of its
//     own), and learned gateways that never answered get a quota of 64,
//     probes backed off to 30 s, and are evicted first from a full
//     table (1024).
//
// As inbound probes teach only addresses on the prober's own IP, a
// gateway behind NAT (advertised address not the IP it dials from) is
// learned only from its own datacenter's answers or from configuration:
// give it as a peer of the gateways that must reach it.
//
// A host that reaches the port and answers probes as datacenter X can
// still become a route to X. The real fix is mutual TLS on the gateway
// port (gateway certificates naming their datacenter), left for later.
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
