// Package lan is the LAN gossip pool of one datacenter: every agent of the
// datacenter, servers and clients, with the tags Consul puts on members
// (role, dc, port, id, build, vsn, expect, ...). It wraps gossip.Pool and
// refuses to merge with members of another datacenter.
//
// It is not the catalog: turning members into catalog nodes and serfHealth
// checks is the leader's job in the server package.
package lan
