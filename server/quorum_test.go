package server

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"consulate/internal/testutil"
	"consulate/structs"
)

// cutNet connects in-memory servers and can cut one off from the rest,
// for Raft (the in-memory transports) and for forwarded RPCs alike.
type cutNet struct {
	mu      sync.Mutex
	servers map[raft.ServerAddress]*Server
	cut     raft.ServerAddress
}

// netFwd is one server's way to the others (Deps.Servers) on the cutNet.
type netFwd struct {
	n    *cutNet
	from raft.ServerAddress
}

func (f *netFwd) Call(ctx context.Context, _ structs.Datacenter, sa structs.ServerAddr, method structs.Method, args, reply any) error {
	addr := raft.ServerAddress(sa)
	f.n.mu.Lock()
	s, cut := f.n.servers[addr], f.n.cut
	f.n.mu.Unlock()
	if s == nil {
		return structs.ErrUnreachable
	}
	if cut != "" && (cut == f.from || cut == addr) {
		<-ctx.Done() // packets vanish: the caller waits for its deadline
		return ctx.Err()
	}
	return s.RPC(ctx, method, args, reply)
}

func (f *netFwd) ForwardDC(ctx context.Context, dc structs.Datacenter, method structs.Method, args, reply any) error {
	return &structs.ErrUnknownDC{DC: string(dc)}
}

func (f *netFwd) KnownDatacenters() []string { return []string{"dc1"} }

func (f *netFwd) StreamDC(_ context.Context, dc structs.Datacenter, _ structs.Method, _ any, _ func() any, _ func(any) error) error {
	return &structs.ErrUnknownDC{DC: string(dc)}
}

func startCutCluster(t *testing.T, leaderWait time.Duration) (*cutNet, []*Server, []*raft.InmemTransport) {
	t.Helper()
	n := &cutNet{servers: map[raft.ServerAddress]*Server{}}
	trans := connectedTransports(3)
	var servers []*Server
	for i, tr := range trans {
		cfg := testConfig([]string{"q1", "q2", "q3"}[i])
		cfg.LeaderWait = leaderWait
		cfg.QuorumProbeTimeout = 100 * time.Millisecond
		s := startServer(t, cfg, Deps{Transport: tr, Servers: &netFwd{n: n, from: tr.LocalAddr()}})
		n.mu.Lock()
		n.servers[tr.LocalAddr()] = s
		n.mu.Unlock()
		servers = append(servers, s)
	}
	bootstrapAll(t, servers)
	return n, servers, trans
}

// isolate cuts the server on trans[i] off from the other two.
func isolate(n *cutNet, trans []*raft.InmemTransport, i int) {
	for j, tr := range trans {
		if j != i {
			trans[i].Disconnect(tr.LocalAddr())
			tr.Disconnect(trans[i].LocalAddr())
		}
	}
	n.mu.Lock()
	n.cut = trans[i].LocalAddr()
	n.mu.Unlock()
}

func leaderIndex(servers []*Server) int {
	for i, s := range servers {
		if s.IsLeader() {
			return i
		}
	}
	return -1
}

// A leader cut off from the other servers: the write it holds when it
// loses leadership fails as "outcome unknown" (never as no-leader, which
// callers resend); once it has stepped down it fails requests at once
// instead of holding them for LeaderWait, and the majority goes on.
func TestCutOffLeader(t *testing.T) {
	n, servers, trans := startCutCluster(t, 5*time.Second)
	var li int
	testutil.WaitFor(t, 5*time.Second, "a leader", func() bool { li = leaderIndex(servers); return li >= 0 })
	old := servers[li]
	var ok bool
	rpc(t, old, structs.MethodKVSApply, &structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: "before", Value: []byte("1")}}, &ok)

	isolate(n, trans, li)
	// Still leader until its lease runs out: this write cannot commit.
	err := old.RPC(context.Background(), structs.MethodKVSApply,
		&structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: "lost", Value: []byte("1")}}, &ok)
	if !errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, structs.ErrNoLeader) {
		t.Fatalf("a write in flight at the step-down: want ErrOutcomeUnknown (not ErrNoLeader), got %v", err)
	}
	testutil.WaitFor(t, 5*time.Second, "the old leader steps down", func() bool { return old.Leader() == "" })

	start := time.Now()
	err = old.RPC(context.Background(), structs.MethodKVSApply,
		&structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: "cut", Value: []byte("1")}}, &ok)
	if !errors.Is(err, structs.ErrNoLeader) || !errors.Is(err, ErrCutOff) {
		t.Fatalf("a write to the cut-off server: want ErrNoLeader and ErrCutOff, got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the cut-off server held the write %s (LeaderWait is 5 s): it should fail at once", d)
	}
	var out structs.IndexedDirEntries
	err = old.RPC(context.Background(), structs.MethodKVSGet,
		&structs.KeyRequest{Key: "before", QueryOptions: structs.QueryOptions{RequireConsistent: true}}, &out)
	if !errors.Is(err, structs.ErrNoLeader) {
		t.Fatalf("a consistent read on the cut-off server answered: %+v %v", out, err)
	}

	// The majority elects and takes writes; a server there that knows no
	// leader yet holds the write for the election (its peer answers).
	other := servers[(li+1)%3]
	rpc(t, other, structs.MethodKVSApply, &structs.KVSRequest{Op: structs.KVSet, DirEnt: structs.DirEntry{Key: "after", Value: []byte("1")}}, &ok)
}
