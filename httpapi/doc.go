// Package httpapi serves Consul's /v1 HTTP API: routing, decoding and
// validating input, the consistency and blocking-query parameters, Consul's
// headers (X-Consul-Index, -KnownLeader, -LastContact,
// -Effective-Consistency) and status codes, and ?filter= evaluation.
//
// It holds no state of its own: cluster reads and writes go through
// Agent.RPC (structs.Method* with structs request types), the agent's own
// services, checks and membership through the other Agent methods. It is
// not for the web UI's assets (Config.UI only mounts a file system) nor
// for ACLs (tokens are accepted and ignored).
package httpapi
