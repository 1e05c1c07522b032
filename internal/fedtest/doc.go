// Package fedtest starts whole federations in process for tests: N
// servers in each of M datacenters, each server with its own
// federation.Router, all joined by an in-memory network that can be
// partitioned and healed — in the spirit of hashicorp/raft's MakeCluster
// with Partition and Heal.
//
// Every server is a real server.Server on a raft.InmemTransport, with
// shrunken timers. Its Deps.Servers (calls to the local leader, quorum
// probes) and its router's Caller and Prober are one Endpoint of a Net:
// a call is encoded with the wire codec, decoded into the target's own
// values and answered by the target's RPC, so what would not survive the
// wire fails here too, and an error comes back as the *structs.RemoteError
// rpcmux would give. A cut link drops packets: calls and pings across it
// hang until their ctx ends or CloseSession fails them, as on a real
// network; a killed server refuses connections (structs.ErrUnreachable).
//
// A test starts a federation, breaks it and checks what callers see:
//
//	c := fedtest.New(t, fedtest.Config{DCs: []fedtest.DC{{Name: "dc1", Servers: 3}, {Name: "dc2", Servers: 3}}})
//	from := c.Followers("dc1")[0]
//	c.CutDC("dc2") // calls from dc1 for dc2 now fail with structs.ErrNoDCPath
//	c.Heal()       // and succeed again once the probes see dc2
//	c.Kill(c.Leader("dc2"))
//	leader := c.WaitLeader("dc2")
//
// It is for tests only: non-test code must not import it (a test in this
// package checks). It is not a model of gossip: routers are told about
// servers directly (UpdateServer), and of a Kill as gossip would tell
// them; a partition is found by the routers' own probes.
package fedtest
