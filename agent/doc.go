// Package agent wires a Consulate agent together from a validated
// config.Runtime: the gossip pools, the server (in server mode), the RPC
// port and pool, the federation router, the local state with its checks,
// and the HTTP and DNS front ends. It starts them in order, stops them in
// reverse, and answers signals (SIGHUP reload, SIGINT/SIGTERM leave).
//
// It holds no behaviour of its own beyond the wiring: routing an RPC to a
// server, feeding membership events to whoever needs them, and adapting
// the pieces to the interfaces the front ends declare.
package agent
