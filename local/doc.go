// Package local holds the agent's own services and checks: it validates
// and stores them, runs their check runners (package checks), persists
// API-registered ones in the data dir, reaps services whose checks stay
// critical too long, and keeps the catalog in step by anti-entropy over
// the agent's RPC (partial syncs on change, full syncs on a timer that
// correct drift both ways). Each service and check syncs with the ACL
// token its registration carried, with Consul's fallbacks (Config.Tokens).
//
// It is not the catalog (package catalog) and not the HTTP API; it does
// not decode config files (package config) — the agent hands it
// ServiceDefinitions and CheckTypes.
package local
