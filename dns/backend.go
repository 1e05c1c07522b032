package dns

import (
	"context"
	"errors"
	"time"

	"consulate/structs"
)

// Backend is the read path the server answers from: the agent's RPC seam
// (local replica, or a server through federation). It must be safe for
// concurrent use. It may block, but must return promptly once ctx is done:
// ctx carries the lookup's deadline (Config.LookupTimeout), and a lookup
// answers SERVFAIL when it passes. A call answered from memory should not
// wait on ctx.Done, which arms that deadline's timer. ctx must not be used
// after RPC returns except through ctx.Done or a context derived from it:
// a context nothing waited on is reused by a later lookup.
//
// The server calls:
//   - structs.MethodCatalogNodeServices with *structs.NodeSpecificRequest
//     and *structs.IndexedNodeServices;
//   - structs.MethodHealthServiceNodes with *structs.ServiceSpecificRequest
//     and *structs.IndexedCheckServiceNodes;
//   - for reverse (PTR) lookups, structs.MethodCatalogListNodes with
//     *structs.DCSpecificRequest and *structs.IndexedNodes, then
//     structs.MethodCatalogServiceNodes with a ServiceAddress and no
//     ServiceName and *structs.IndexedServiceNodes;
//   - structs.MethodCatalogDatacenters with *structs.EmptyRequest and
//     *structs.DatacentersReply, only after a lookup in a named datacenter
//     failed, to tell an unknown datacenter from an unreachable one.
//
// Errors: *structs.ErrUnknownDC answers NXDOMAIN; everything else,
// structs.ErrNoDCPath included, answers SERVFAIL.
type Backend interface {
	RPC(ctx context.Context, method structs.Method, args, reply any) error
}

// QueryExecutor runs a prepared query for NAME.query[.DC] lookups. It must
// be safe for concurrent use.
type QueryExecutor interface {
	// ExecuteQuery runs the query named (or with the ID) req.Name. It
	// returns ErrQueryNotFound (possibly wrapped) when there is no such
	// query.
	ExecuteQuery(ctx context.Context, req *QueryRequest) (*QueryResult, error)
}

// QueryRequest asks a QueryExecutor to run one prepared query.
type QueryRequest struct {
	// Datacenter is where the query is defined; the local DC when the
	// name carried none.
	Datacenter string
	// Name is the query's name or ID, lower-cased as it came in the DNS name.
	Name string
	// Agent is the node asking, for "near" sorting.
	Agent structs.QuerySource
	// AllowStale and MaxStale carry the dns_config settings.
	AllowStale bool
	MaxStale   time.Duration
}

// QueryResult is what a prepared query found.
type QueryResult struct {
	// Service is the service the query looked up, for TTL selection.
	Service string
	// Datacenter is where the instances came from (after failover).
	Datacenter string
	// Nodes are the instances; instances with critical checks are dropped
	// again by the DNS server.
	Nodes structs.CheckServiceNodes
	// TTL, when positive, overrides the service TTL.
	TTL time.Duration
}

// ErrQueryNotFound is returned by a QueryExecutor for a query that does not
// exist; the server answers NXDOMAIN.
var ErrQueryNotFound = errors.New("dns: prepared query not found")

// Tracker is optionally implemented by a Backend that answers some reads
// from memory (the agent's cache does). Track returns nil for a read it
// never answers from memory; otherwise a function reporting, without
// allocating, the index of the value it would answer that read with now,
// and false when it would not answer it from memory. The server keeps
// the packed answers built from a tracked read and sends them again
// while the index stays the same; it calls Track before RPC, with the
// same args.
type Tracker interface {
	Track(method structs.Method, args any) func() (index uint64, ok bool)
}
