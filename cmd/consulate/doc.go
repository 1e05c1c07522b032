// Command consulate is the single binary of Consulate: `consulate agent` runs
// an agent, and every other subcommand is a thin client of a running agent's
// HTTP API, spoken through the official github.com/hashicorp/consul/api
// client so the commands stay wire-compatible with Consul.
//
// The package is not a place for behaviour: it parses flags, makes one or a
// few HTTP calls and prints the answer in the columns Consul prints, so
// scripts written against Consul keep working. main only calls run, which
// tests call in-process against a fake HTTP API.
package main
