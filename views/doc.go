// Package views keeps live, in-memory views of services' health on a
// client agent (Consul's streaming backend, use_streaming_backend). A view
// is fed by one subscription to a server's Subscribe.ServiceHealth stream
// (a snapshot, then deltas) and is shared by every caller asking about the
// same (datacenter, service, token); Store.RPC answers Health.ServiceNodes
// reads from it, applying the tag, node-meta and near parameters itself,
// including blocking queries, with the index a direct read would give.
//
// A view is served only while its stream is known good: when the stream
// ends the view stops answering (reads go to the servers) until a new
// snapshot at least as recent as anything it already served arrives, so
// an index is never served backwards and stale data is never served as
// fresh. ?consistent reads always go to the servers.
//
// It is not a general cache (see package cache for ?cached and DNS) and it
// never runs on servers, which read their own state store in process.
package views
