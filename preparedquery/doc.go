// Package preparedquery holds what a prepared query does once it is
// stored: resolving a name or ID to a query (templates included), checking
// a definition, filtering a service's instances the way the query asks,
// and running the failover through other datacenters in the order the
// query gives (all asked at once, the first in that order with healthy
// instances answering; see Executor.Execute).
//
// It is not for storage (the catalog keeps queries, replicated by Raft)
// nor for the wire: it reads instances and reaches other datacenters
// through the small function types below, so it is tested without sockets.
package preparedquery
