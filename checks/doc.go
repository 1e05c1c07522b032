// Package checks runs an agent's health checks: HTTP, TCP, script (args)
// and TTL. Each runner reports status changes through a Notifier.
//
// It is not for storing checks or syncing them to the catalog; package
// local owns that and uses these runners.
package checks
