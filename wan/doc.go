// Package wan is the WAN gossip pool that federates datacenters: servers
// only, named NODE.DC, on memberlist's WAN timers. It groups servers by
// datacenter with their status and counts flaps (alive → failed → alive)
// per datacenter for the router's health view.
//
// Servers federated through gateways (Config.Gateway, GatewayTransport)
// never reach a server of another datacenter directly: memberlist's
// packets to such a member NODE.DC travel a persistent pipe, and its
// streams a connection each, through the local gateways to the member's
// server RPC port (gossip byte, then 'p' or 's'); the port hands them to
// GatewayTransport.HandleConn, which feeds memberlist as its UDP and TCP
// listeners do. Members are routed by name, so joins name them
// (JoinThroughGateways: "NODE.DC/ip:port") and their RPC addresses come
// from the members' tags, or from hints given at join.
//
// It does not route requests: the federation package reads Datacenters().
package wan
