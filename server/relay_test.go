package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
)

// A read that arrives over the wire at a follower is forwarded to the
// leader and its reply relayed undecoded (rpcmux.RawReply): the caller
// gets the leader's full answer, QueryMeta included, and in process the
// follower still fills a typed reply.
func TestFollowerRelaysLeaderReplyRaw(t *testing.T) {
	servers := portCluster(t, 3)
	var leader, follower *Server
	testutil.WaitFor(t, 5*time.Second, "a leader known to all", func() bool {
		leader, follower = nil, nil
		for _, s := range servers {
			if s.IsLeader() {
				leader = s
			} else {
				follower = s
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
	if !follower.rawForwardLeader {
		t.Fatal("a server whose Servers is an rpcmux.Pool should relay raw")
	}
	for i := range 20 {
		registerWeb(t, leader, fmt.Sprintf("web-node-%d", i), fmt.Sprintf("10.1.0.%d", i), fmt.Sprintf("web-%d", i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args := &structs.ServiceSpecificRequest{ServiceName: "web"}

	var want structs.IndexedServiceNodes
	rpc(t, leader, structs.MethodCatalogServiceNodes, args, &want)

	pool := newPool(t)
	before := forwards(follower)
	var wire structs.IndexedServiceNodes
	if err := pool.Call(ctx, "dc1", structs.ServerAddr(follower.LocalAddr()), structs.MethodCatalogServiceNodes, args, &wire); err != nil {
		t.Fatalf("read through the follower: %v", err)
	}
	if got := forwards(follower) - before; got != 1 {
		t.Fatalf("follower forwarded %d calls, want 1", got)
	}
	var inproc structs.IndexedServiceNodes
	rpc(t, follower, structs.MethodCatalogServiceNodes, args, &inproc)

	for name, got := range map[string]*structs.IndexedServiceNodes{"over the wire": &wire, "in process": &inproc} {
		if len(got.ServiceNodes) != 20 || got.Index != want.Index || !got.KnownLeader || got.ConsistencyLevel != "leader" {
			t.Fatalf("%s: %d nodes, index %d (want 20, %d), meta %+v", name, len(got.ServiceNodes), got.Index, want.Index, got.QueryMeta)
		}
		for i, n := range got.ServiceNodes {
			if n.ServiceID != want.ServiceNodes[i].ServiceID || n.Address != want.ServiceNodes[i].Address {
				t.Fatalf("%s: node %d = %+v, want %+v", name, i, n, want.ServiceNodes[i])
			}
		}
	}

	// An error answer is relayed as an error, not as a body.
	bad := &structs.ServiceSpecificRequest{}
	err := pool.Call(ctx, "dc1", structs.ServerAddr(follower.LocalAddr()), structs.MethodCatalogServiceNodes, bad, &wire)
	if err == nil {
		t.Fatal("a read without a service name succeeded through the follower")
	}
}
