// Package server is a Consulate server: a Raft peer replicating the catalog
// FSM, the RPC endpoints (Status, Catalog, Health, KVS, Session, Txn,
// Coordinate, Operator) behind one RPC(ctx, method, args, reply) entry
// point, blocking queries over the state store's watch channels, and the
// leader's session TTL timers.
//
// It is not for transport: requests for another datacenter or for the
// leader leave through a Forwarder the caller provides (the rpcmux and
// federation packages), and the Raft transport is injected too.
package server
