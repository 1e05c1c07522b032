// Package gossip is the serf-like member model that Consulate's LAN and WAN
// pools share. It sits on hashicorp/memberlist and adds what Consul expects
// from serf: member tags, the alive/leaving/left/failed life cycle ordered by
// a Lamport clock, graceful leave, force-leave, reconnect and reaping, user
// events delivered once per node, Vivaldi network coordinates and a snapshot
// of known members for -rejoin.
//
// Why not hashicorp/serf itself: Consulate needs only that part of serf, and
// wants it on its own terms. Members are structs.Member, the type the rest of
// Consulate uses, not serf.Member to convert. Events go through a bounded
// queue that never blocks memberlist (a full queue drops with a warning),
// plus a synchronous Observer. Node-ID conflicts are refused on push/pull
// merges and on passive alive messages alike, and reach Join's caller as a
// *NodeIDConflictError. The snapshot is a small JSON file rewritten whole,
// not an append-only log to compact. From serf only the Vivaldi library
// (serf/coordinate) is used.
//
// Deliberately left out: serf queries and all that stands on them, so no
// query/response or relay messages, no key manager (the key comes once from
// Config.SecretKey; Memberlist() exposes the keyring) and no resolution of
// name conflicts by query (a conflict is logged). Member events are not
// coalesced; only user events sent with coalescing replace a pending one of
// the same name. The messages are the package's own (join and leave intents,
// push/pull state, user events), not serf's wire format.
//
// memberlist runs on a transport bound to the bind address, which it also
// dials from (transport.go); Config.WrapTransport wraps it (the WAN pool's
// route through federation gateways).
//
// It is not Consul-specific: the tags Consul puts on members, and the rules
// that tie a pool to one datacenter, live in the lan and wan packages.
package gossip
