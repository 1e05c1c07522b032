// Package e2e runs the built consulate binary as real processes, each agent
// on its own loopback address (127.0.0.x) with Consul's default ports, and
// drives them the way an operator would: through the CLI, the HTTP API
// (with the official Go client) and DNS.
//
// It holds tests only; the helpers here are not for production code.
package e2e
