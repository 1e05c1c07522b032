// Package structs holds the wire types that cross package boundaries inside
// Consulate: RPC requests and replies between agents and servers, the rows of
// the catalog, and the shapes the HTTP API encodes. Field names follow
// Consul's HTTP API so that values can be encoded to JSON as they are.
//
// It is not for behaviour: no I/O, no locking, only types, small helpers on
// them and the names of RPC methods.
package structs
