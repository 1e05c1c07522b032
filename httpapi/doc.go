// Package httpapi serves Consul's /v1 HTTP API: routing, decoding and
// validating input, the consistency and blocking-query parameters, Consul's
// headers (X-Consul-Index, -KnownLeader, -LastContact,
// -Effective-Consistency) and status codes, and ?filter= evaluation.
//
// It holds no state of its own: cluster reads and writes go through
// Agent.RPC (structs.Method* with structs request types), the agent's own
// services, checks and membership through the other Agent methods. It is
// not for the web UI's assets (Config.UI only mounts a file system). The
// caller's token (X-Consul-Token, Authorization: Bearer, ?token=) goes in
// every request's QueryOptions/WriteRequest; the /v1/acl endpoints pass
// ACL management to the servers, /v1/agent/token/ to Agent.SetAgentToken.
package httpapi
