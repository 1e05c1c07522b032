// Package cache keeps an agent-side, in-memory view of the reads DNS makes
// (a service's healthy instances, a node's services), each entry kept fresh
// by a blocking query that returns as soon as the data changes. A lookup
// is then answered from memory without a round trip to a server, locally
// or in another datacenter, which is what Consul's use_cache does for DNS.
//
// It is not a general RPC cache: only stale-allowed reads of the methods it
// knows are cached, and answers it hands out are shared, read-only values.
package cache
