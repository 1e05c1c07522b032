// Package wan is the WAN gossip pool that federates datacenters: servers
// only, named NODE.DC, on memberlist's WAN timers. It groups servers by
// datacenter with their status and counts flaps (alive → failed → alive)
// per datacenter for the router's health view.
//
// It does not route requests: the federation package reads Datacenters().
package wan
