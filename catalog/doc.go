// Package catalog is the replicated state of a datacenter: the Raft FSM and
// the go-memdb state store behind it (nodes, services, checks, KV, sessions
// and network coordinates), with a modify index per table and per service
// name so blocking reads wake only when what they read has changed.
//
// Writes reach the Store only through the FSM, each stamped with its Raft
// index; reads take a memdb.WatchSet that they fill with the narrowest
// watch channels that cover what they returned. Snapshot and Restore move
// the whole state in one msgpack stream.
//
// It is not for networking, leadership duties or request validation: the
// server package owns those and talks to the catalog through Raft.
package catalog
