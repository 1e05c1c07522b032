// Package rpcmux is the server RPC port (8300 by default) and the client
// side that talks to it.
//
// On the server, the first byte of every accepted TCP connection picks the
// protocol (see RPCType): plain RPC calls, Raft traffic (handed to the
// RaftLayer, which implements raft.StreamLayer), a yamux session whose
// streams each carry RPC calls, WAN gossip (RPCGossip, handed to
// Config.Gossip: memberlist's packets and streams between datacenters
// federated through gateways), or TLS with one of these inside. Calls
// are dispatched to a Handler (the server package implements it).
//
// The port bounds what one client can hold: connections per client IP
// (Config.MaxConnsPerClient), the time a connection has to finish its
// preamble (HandshakeTimeout), the idle time of a plain RPC connection
// (PlainIdleTimeout) and the streams per yamux session
// (MaxStreamsPerSession). A local federation gateway carries the
// connections of every other datacenter from one IP, so
// Config.LimitExempt lifts the per-IP cap for it.
//
// On the client, a Pool keeps yamux sessions per server address, shared by
// every caller: blocking queries on sessions of their own, every other
// call on another, and a further session whenever one holds
// MaxCallsPerSession calls. Calls never queue for a stream. It dials each
// session at most once at a time, reaps idle sessions and replaces dead
// ones. PoolConfig.Dialer replaces the direct dial (servers federated
// through gateways dial other datacenters through a local gateway); TLS
// and the protocol byte still run end to end on what it returns.
// Pool.DialProto opens a single connection of any protocol the same way.
//
// A call on the wire is one frame each way: a 4-byte big-endian length, then
// a msgpack header and a msgpack body. The length prefix lets both sides
// refuse an oversized message before allocating for it.
//
// A streaming call (structs.IsStreamMethod, served by a Handler that is
// also a StreamHandler, run by Pool.Stream) sends one request frame and
// gets many answers on the same stream, each marked "more follow" in its
// header; the last carries the stream's error, if any. It holds its
// stream, in the blocking lane, for its whole life and never reuses it;
// the client closing it cancels the handler's ctx.
//
// It is not for routing: choosing which server or datacenter to call is the
// federation package's job; this package only moves calls to an address.
package rpcmux
