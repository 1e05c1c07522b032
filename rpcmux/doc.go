// Package rpcmux is the server RPC port (8300 by default) and the client
// side that talks to it.
//
// On the server, the first byte of every accepted TCP connection picks the
// protocol (see RPCType): plain RPC calls, Raft traffic (handed to the
// RaftLayer, which implements raft.StreamLayer), a yamux session whose
// streams each carry RPC calls, or TLS (reserved, refused for now). Calls
// are dispatched to a Handler (the server package implements it).
//
// On the client, a Pool keeps one yamux session per server address, shared
// by every caller, dials each address at most once at a time, bounds the
// number of streams per session, reaps idle sessions and replaces dead
// ones.
//
// A call on the wire is one frame each way: a 4-byte big-endian length, then
// a msgpack header and a msgpack body. The length prefix lets both sides
// refuse an oversized message before allocating for it.
//
// It is not for routing: choosing which server or datacenter to call is the
// federation package's job; this package only moves calls to an address.
package rpcmux
