// Package cache keeps an agent-side, in-memory view of the reads DNS makes
// (a service's healthy instances, a node's services), each entry kept fresh
// by a blocking query that returns as soon as the data changes. A lookup
// is then answered from memory without a round trip to a server, locally
// or in another datacenter, which is what Consul's use_cache does for DNS.
//
// It is bounded: at most Config.MaxEntries entries (one goroutine each),
// of which at most MaxNegativeEntries for names that found nothing, and a
// name that found nothing is cached only when read a second time while a
// small LRU set remembers it. Entries nobody reads stop refreshing after
// IdleTTL. Reads beyond the bounds go to the servers. A flood of made-up
// names therefore costs server reads, not memory or goroutines.
//
// It is not a general RPC cache: only stale-allowed reads of the methods it
// knows are cached, and answers it hands out are shared, read-only values.
package cache
