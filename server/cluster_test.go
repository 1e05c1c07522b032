package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"consulate/internal/testutil"
	"consulate/structs"
)

// fakeForwarder reaches other servers (as Deps.Servers and Deps.Forwarder)
// by calling their RPC in process.
type fakeForwarder struct {
	mu      sync.Mutex
	servers map[raft.ServerAddress]*Server
	dcs     map[string]*Server
	leader  atomic.Int64
	dc      atomic.Int64
}

func (f *fakeForwarder) Call(ctx context.Context, _ structs.Datacenter, addr structs.ServerAddr, method structs.Method, args, reply any) error {
	f.mu.Lock()
	s := f.servers[raft.ServerAddress(addr)]
	f.mu.Unlock()
	if s == nil {
		return structs.ErrNoLeader
	}
	f.leader.Add(1)
	return s.RPC(ctx, method, args, reply)
}

func (f *fakeForwarder) ForwardDC(ctx context.Context, dc structs.Datacenter, method structs.Method, args, reply any) error {
	f.mu.Lock()
	s := f.dcs[string(dc)]
	f.mu.Unlock()
	if s == nil {
		return &structs.ErrUnknownDC{DC: string(dc)}
	}
	f.dc.Add(1)
	return s.RPC(ctx, method, args, reply)
}

func (f *fakeForwarder) KnownDatacenters() []string { return []string{"dc1", "dc2"} }

func (f *fakeForwarder) StreamDC(ctx context.Context, dc structs.Datacenter, method structs.Method,
	args any, _ func() any, recv func(any) error) error {
	f.mu.Lock()
	s := f.dcs[string(dc)]
	f.mu.Unlock()
	if s == nil {
		return &structs.ErrUnknownDC{DC: string(dc)}
	}
	return s.Stream(ctx, method, args, recv)
}

func TestThreeServerCluster(t *testing.T) {
	fwd := &fakeForwarder{servers: map[raft.ServerAddress]*Server{}, dcs: map[string]*Server{}}
	trans := connectedTransports(3)
	var servers []*Server
	for i, tr := range trans {
		cfg := testConfig([]string{"s1", "s2", "s3"}[i])
		s := startServer(t, cfg, Deps{Transport: tr, Servers: fwd, Forwarder: fwd})
		fwd.mu.Lock()
		fwd.servers[tr.LocalAddr()] = s
		fwd.mu.Unlock()
		servers = append(servers, s)
	}
	// s1 bootstraps the full configuration (the bootstrap-expect path).
	bootstrapAll(t, servers)
	var leader, follower *Server
	testutil.WaitFor(t, 5*time.Second, "one leader", func() bool {
		leader, follower = nil, nil
		n := 0
		for _, s := range servers {
			if s.IsLeader() {
				leader = s
				n++
			} else {
				follower = s
			}
		}
		return n == 1
	})

	// A write sent to a follower is forwarded to the leader and replicated.
	before := fwd.leader.Load()
	registerWeb(t, follower, "n1", "127.0.0.11", "web1")
	if fwd.leader.Load() == before {
		t.Fatal("follower write was not forwarded")
	}
	var ok bool
	rpc(t, follower, structs.MethodKVSApply, &structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: "k", Value: []byte("v")}}, &ok)

	// Every replica catches up; stale reads are answered locally.
	for _, s := range servers {
		testutil.WaitFor(t, 5*time.Second, "replication", func() bool {
			var out structs.IndexedDirEntries
			before := fwd.leader.Load()
			err := s.RPC(context.Background(), structs.MethodKVSGet, &structs.KeyRequest{Key: "k", QueryOptions: structs.QueryOptions{AllowStale: true}}, &out)
			if err != nil {
				t.Fatal(err)
			}
			if fwd.leader.Load() != before {
				t.Fatal("stale read was forwarded")
			}
			if out.ConsistencyLevel != "stale" || !out.KnownLeader {
				t.Fatalf("stale meta %+v", out.QueryMeta)
			}
			return len(out.Entries) == 1
		})
	}
	// A default read on a follower goes to the leader.
	before = fwd.leader.Load()
	var sn structs.IndexedServiceNodes
	rpc(t, follower, structs.MethodCatalogServiceNodes, &structs.ServiceSpecificRequest{ServiceName: "web"}, &sn)
	if len(sn.ServiceNodes) != 1 || fwd.leader.Load() == before {
		t.Fatalf("default read: %d nodes, forwarded %v", len(sn.ServiceNodes), fwd.leader.Load() != before)
	}
	var cons structs.IndexedNodes
	rpc(t, follower, structs.MethodCatalogListNodes, &structs.DCSpecificRequest{QueryOptions: structs.QueryOptions{RequireConsistent: true}}, &cons)
	if cons.ConsistencyLevel != "consistent" || len(cons.Nodes) != 1 {
		t.Fatalf("consistent read %+v", cons)
	}
	var peers []string
	rpc(t, follower, structs.MethodStatusPeers, &structs.EmptyRequest{}, &peers)
	if len(peers) != 3 {
		t.Fatalf("peers %v", peers)
	}
	var rc structs.RaftConfigurationResponse
	rpc(t, follower, structs.MethodOperatorRaftConfiguration, &structs.DCSpecificRequest{}, &rc)
	leaders := 0
	for _, srv := range rc.Servers {
		if srv.Leader {
			leaders++
		}
	}
	if len(rc.Servers) != 3 || leaders != 1 {
		t.Fatalf("raft configuration %+v", rc.Servers)
	}
	if st := follower.Stats(); st["raft"]["state"] != "Follower" || st["raft"]["num_peers"] != "2" {
		t.Fatalf("follower stats %v", st["raft"])
	}

	// Another datacenter goes through ForwardDC.
	dc2cfg := testConfig("dc2-s1")
	dc2cfg.Datacenter, dc2cfg.Bootstrap = "dc2", true
	dc2 := startServer(t, dc2cfg, Deps{})
	waitLeader(t, dc2)
	registerWeb(t, dc2, "remote", "127.0.0.21", "web9")
	fwd.mu.Lock()
	fwd.dcs["dc2"] = dc2
	fwd.mu.Unlock()
	var dcs structs.DatacentersReply
	rpc(t, follower, structs.MethodCatalogDatacenters, &structs.EmptyRequest{}, &dcs)
	if len(dcs.Datacenters) != 2 {
		t.Fatalf("datacenters %v", dcs.Datacenters)
	}
	var udc *structs.ErrUnknownDC
	if err := follower.RPC(context.Background(), structs.MethodCatalogListNodes, &structs.DCSpecificRequest{Datacenter: "dc7"}, &cons); !errors.As(err, &udc) {
		t.Fatalf("unknown dc through forwarder: %v", err)
	}
	var remote structs.IndexedNodes
	rpc(t, follower, structs.MethodCatalogListNodes, &structs.DCSpecificRequest{Datacenter: "dc2"}, &remote)
	if len(remote.Nodes) != 1 || remote.Nodes[0].Node != "remote" || fwd.dc.Load() != 1 {
		t.Fatalf("ForwardDC called %d times", fwd.dc.Load())
	}

	// Remove a follower; the rest keep a leader and accept writes.
	if err := leader.RemoveServer(follower.LocalID()); err != nil {
		t.Fatal(err)
	}
	rpc(t, leader, structs.MethodKVSApply, &structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: "k2"}}, &ok)
	f := leader.Raft().GetConfiguration()
	if err := f.Error(); err != nil || len(f.Configuration().Servers) != 2 {
		t.Fatalf("after remove: %+v %v", f.Configuration().Servers, err)
	}
}

func TestNoLeaderFailsFast(t *testing.T) {
	// A server that never bootstraps has no leader: writes fail with
	// ErrNoLeader after the short leader wait, not a hang.
	cfg := testConfig("lonely")
	cfg.LeaderWait = 100 * time.Millisecond
	s := startServer(t, cfg, Deps{})
	start := time.Now()
	err := s.RPC(context.Background(), structs.MethodKVSApply, &structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: "k"}}, new(bool))
	if !errors.Is(err, structs.ErrNoLeader) {
		t.Fatalf("want ErrNoLeader, got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
	// Stale reads still answer from the local replica.
	var out structs.IndexedNodes
	if err := s.RPC(context.Background(), structs.MethodCatalogListNodes, &structs.DCSpecificRequest{QueryOptions: structs.QueryOptions{AllowStale: true}}, &out); err != nil {
		t.Fatal(err)
	}
	if out.KnownLeader || out.Index != 1 {
		t.Fatalf("stale meta %+v", out.QueryMeta)
	}
}

// bootstrapAll has servers[0] bootstrap a configuration of every server
// as a voter, then waits until each of them knows a leader.
func bootstrapAll(t *testing.T, servers []*Server) {
	t.Helper()
	var conf []raft.Server
	for _, s := range servers {
		conf = append(conf, raft.Server{Suffrage: raft.Voter, ID: s.LocalID(), Address: s.LocalAddr()})
	}
	if err := servers[0].BootstrapCluster(conf); err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		waitLeader(t, s)
	}
}

// connectedTransports returns n in-memory Raft transports, each connected
// to every other.
func connectedTransports(n int) []*raft.InmemTransport {
	trans := make([]*raft.InmemTransport, n)
	for i := range trans {
		_, trans[i] = raft.NewInmemTransport("")
	}
	for _, a := range trans {
		for _, b := range trans {
			if a != b {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
	return trans
}
