// Package chaos is the fault harness: it runs a real cluster of consulate
// agents (package cluster), cuts and heals links between their loopback
// addresses (package netfault), and meanwhile drives six clients doing KV
// put, CAS and ?consistent get through every agent with the official Go
// client. Each fault is one Round on keys of its own; the round's history
// is checked for linearizability with porcupine (a write that got no
// answer may or may not have happened), and probes that write through
// every agent every 100 ms measure how soon writes resume.
//
// It is not a load tool (see bench/) and it does not mock anything: the
// agents are the built binary, the partitions are nftables rules. The
// tests need root and nftables; see README.md for the commands and the
// latest figures.
package chaos
