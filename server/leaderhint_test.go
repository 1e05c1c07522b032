package server

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"consulate/federation"
	"consulate/internal/testutil"
	"consulate/rpcmux"
	"consulate/structs"
)

// portCluster starts n servers on loopback ports, each serving its own
// port and reaching the others through an rpcmux pool, and bootstraps
// them together.
func portCluster(t *testing.T, n int) []*Server {
	t.Helper()
	var servers []*Server
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		pool := newPool(t)
		cfg := testConfig(fmt.Sprintf("s%d", i+1))
		cfg.RPC.AdvertiseAddr = ln.Addr()
		servers = append(servers, startServer(t, cfg, Deps{Listener: ln, Servers: pool}))
	}
	bootstrapAll(t, servers)
	return servers
}

func newPool(t *testing.T) *rpcmux.Pool {
	t.Helper()
	p, err := rpcmux.NewPool(rpcmux.DefaultPoolConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	return p
}

func forwards(s *Server) uint64 {
	n, _ := strconv.ParseUint(s.Stats()["consul"]["leader_forwards"], 10, 64)
	return n
}

// A client's writes reach the leader in one hop once an answer named it,
// and a stale hint (the leader moved) costs one forward, not a wrong
// answer.
func TestClientWritesReachLeaderInOneHop(t *testing.T) {
	servers := portCluster(t, 3)
	var leader *Server
	testutil.WaitFor(t, 5*time.Second, "one leader, known to all", func() bool {
		leader = nil
		for _, s := range servers {
			if s.IsLeader() {
				leader = s
			}
		}
		if leader == nil {
			return false
		}
		for _, s := range servers {
			if s.LeaderHint() != string(leader.LocalAddr()) {
				return false
			}
		}
		return true
	})

	pool := newPool(t)
	ls := federation.NewLocalServers(pool, "dc1")
	for i, s := range servers {
		ls.Update(federation.Server{Name: fmt.Sprintf("s%d", i+1), Datacenter: "dc1",
			Addr: structs.ServerAddr(s.LocalAddr()), Status: structs.StatusAlive})
	}
	// Prefer a follower, so that only the hint can take writes to the
	// leader directly.
	for i := 0; i < 50 && ls.Addrs()[0] == structs.ServerAddr(leader.LocalAddr()); i++ {
		ls.Rebalance()
	}
	if ls.Addrs()[0] == structs.ServerAddr(leader.LocalAddr()) {
		t.Fatal("could not prefer a follower")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	put := func(key string) {
		t.Helper()
		var ok bool
		args := &structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: key, Value: []byte("v")}}
		if err := ls.Call(ctx, structs.MethodKVSApply, args, &ok); err != nil || !ok {
			t.Fatalf("put %s: %v %v", key, ok, err)
		}
	}
	total := func() (n uint64) {
		for _, s := range servers {
			n += forwards(s)
		}
		return n
	}

	// The first write goes through the preferred follower, whose answer
	// names the leader.
	put("first")
	if got := total(); got != 1 {
		t.Fatalf("forwards after the first write = %d, want 1", got)
	}
	if h := pool.LeaderHint("dc1"); h != structs.ServerAddr(leader.LocalAddr()) {
		t.Fatalf("hint %q, want the leader %s", h, leader.LocalAddr())
	}
	for i := range 20 {
		put(fmt.Sprintf("k%d", i))
	}
	if got := total(); got != 1 {
		t.Fatalf("forwards after 20 more writes = %d, want still 1 (one hop each)", got)
	}

	// The leader moves: the pool's hint is stale. The next write lands on
	// the old leader, which forwards it, and its answer brings the new
	// hint; writes are applied once each.
	old := leader
	if err := old.Raft().LeadershipTransfer().Error(); err != nil {
		t.Fatalf("leadership transfer: %v", err)
	}
	testutil.WaitFor(t, 5*time.Second, "a new leader known to the old one", func() bool {
		for _, s := range servers {
			if s != old && s.IsLeader() && old.LeaderHint() == string(s.LocalAddr()) {
				leader = s
				return true
			}
		}
		return false
	})
	before := total()
	put("after-move")
	if got := total() - before; got != 1 {
		t.Fatalf("forwards for the write with a stale hint = %d, want 1", got)
	}
	if h := pool.LeaderHint("dc1"); h != structs.ServerAddr(leader.LocalAddr()) {
		t.Fatalf("hint %q after the move, want %s", h, leader.LocalAddr())
	}
	before = total()
	put("after-move-2")
	if got := total() - before; got != 0 {
		t.Fatalf("forwards once the hint is fresh = %d, want 0", got)
	}
	// Every write is there once, read from the new leader.
	for _, key := range []string{"first", "k19", "after-move", "after-move-2"} {
		var out structs.IndexedDirEntries
		args := &structs.KeyRequest{Key: key, QueryOptions: structs.QueryOptions{RequireConsistent: true}}
		if err := ls.Call(ctx, structs.MethodKVSGet, args, &out); err != nil || len(out.Entries) != 1 {
			t.Fatalf("get %s: %v %+v", key, err, out)
		}
	}
}
