// Package gossip is the serf-like member model that Consulate's LAN and WAN
// pools share. It sits on hashicorp/memberlist and adds what Consul expects
// from serf: member tags, the alive/leaving/left/failed life cycle ordered by
// a Lamport clock, graceful leave, force-leave, reconnect and reaping, user
// events delivered once per node, Vivaldi network coordinates and a snapshot
// of known members for -rejoin.
//
// It is not Consul-specific: the tags Consul puts on members, and the rules
// that tie a pool to one datacenter, live in the lan and wan packages.
package gossip
