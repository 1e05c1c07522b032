package fedtest

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"consulate/federation"
	"consulate/server"
	"consulate/structs"
)

// DC is one datacenter to start.
type DC struct {
	Name    string
	Servers int
}

// Config describes a federation to start. Only DCs is required.
type Config struct {
	// DCs are started in order; each gets Servers voters, bootstrapped
	// together.
	DCs []DC
	// Server, when set, adjusts each server's config (already shrunk for
	// tests) before it is built; n has its names and address, not yet its
	// Server.
	Server func(n *Node, cfg *server.Config)
	// Router, when set, adjusts each router's config (already shrunk).
	Router func(n *Node, cfg *federation.Config)
	// RTT is the estimated round trip between two servers, as the WAN
	// coordinates would give it; nil: 1ms within a datacenter, 10ms
	// across.
	RTT func(from, to *Node) time.Duration
	// Wait bounds every wait of the harness (a leader, a kill); 0: 5s.
	Wait time.Duration
	// Logger receives the servers' and routers' logs; nil discards them.
	Logger *slog.Logger
}

// Node is one running server with its router.
type Node struct {
	// Name is the WAN member name, NODE.DC; NodeName the node's own.
	Name     string
	NodeName string
	DC       string
	// Addr is the server's address on the Net and in Raft.
	Addr   structs.ServerAddr
	Server *server.Server
	Router *federation.Router
	// Endpoint is this server's way onto the Net.
	Endpoint *Endpoint

	trans     *raft.InmemTransport
	cancelRun context.CancelFunc
	runDone   chan struct{}
	killed    bool
}

// Cluster is a running federation.
type Cluster struct {
	t   testing.TB
	cfg Config
	// Net joins every server.
	Net *Net

	// mu guards the nodes' killed flags.
	mu    sync.Mutex
	nodes []*Node
	byDC  map[string][]*Node
}

// New starts the federation described by cfg and waits until every
// datacenter has a leader. Everything is shut down by t.Cleanup.
func New(t testing.TB, cfg Config) *Cluster {
	t.Helper()
	if len(cfg.DCs) == 0 {
		t.Fatal("fedtest: no datacenters")
	}
	if cfg.Wait <= 0 {
		cfg.Wait = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{t: t, cfg: cfg, Net: NewNet(), byDC: map[string][]*Node{}}
	t.Cleanup(c.shutdown)
	for _, dc := range cfg.DCs {
		if dc.Name == "" || dc.Servers < 1 || c.byDC[dc.Name] != nil {
			t.Fatalf("fedtest: bad datacenter %+v", dc)
		}
		for i := range dc.Servers {
			name := fmt.Sprintf("%s-s%d", dc.Name, i+1)
			n := &Node{Name: name + "." + dc.Name, NodeName: name, DC: dc.Name, Addr: structs.ServerAddr(name + ":8300")}
			_, n.trans = raft.NewInmemTransport(raft.ServerAddress(n.Addr))
			c.nodes = append(c.nodes, n)
			c.byDC[dc.Name] = append(c.byDC[dc.Name], n)
		}
	}
	for _, ns := range c.byDC {
		for _, a := range ns {
			for _, b := range ns {
				if a != b {
					a.trans.Connect(b.trans.LocalAddr(), b.trans)
				}
			}
		}
	}
	for _, n := range c.nodes {
		c.start(n)
	}
	for _, dc := range cfg.DCs {
		ns := c.byDC[dc.Name]
		var conf []raft.Server
		for _, n := range ns {
			conf = append(conf, raft.Server{Suffrage: raft.Voter, ID: n.Server.LocalID(), Address: n.Server.LocalAddr()})
		}
		if err := ns[0].Server.BootstrapCluster(conf); err != nil {
			t.Fatalf("fedtest: bootstrap %s: %v", dc.Name, err)
		}
	}
	// Every router knows every server, as the WAN pool would tell it.
	for _, r := range c.nodes {
		for _, n := range c.nodes {
			r.Router.UpdateServer(federation.Server{Name: n.Name, Datacenter: n.DC, Addr: n.Addr, Status: structs.StatusAlive})
		}
	}
	for _, n := range c.nodes {
		ctx, cancel := context.WithCancel(context.Background())
		n.cancelRun, n.runDone = cancel, make(chan struct{})
		go func() {
			defer close(n.runDone)
			n.Router.Run(ctx)
		}()
	}
	c.WaitLeaders()
	return c
}

// start builds and starts n's router and server.
func (c *Cluster) start(n *Node) {
	t := c.t
	t.Helper()
	n.Endpoint = c.Net.Endpoint(n.Addr)

	rc := federation.DefaultConfig()
	rc.LocalDC = n.DC
	rc.AttemptTimeout = 500 * time.Millisecond
	rc.BlockingGrace = time.Second
	rc.ProbeInterval = 50 * time.Millisecond
	rc.DownProbeInterval = 20 * time.Millisecond
	rc.ProbeTimeout = 100 * time.Millisecond
	rc.Logger = c.cfg.Logger.With("node", n.Name)
	if c.cfg.Router != nil {
		c.cfg.Router(n, &rc)
	}
	router, err := federation.New(rc, n.Endpoint, c.rttFrom(n))
	if err != nil {
		t.Fatalf("fedtest: router for %s: %v", n.Name, err)
	}
	n.Router = router

	sc := server.DefaultConfig()
	sc.NodeName = n.NodeName
	sc.Datacenter = n.DC
	raftCfg := raft.DefaultConfig()
	raftCfg.HeartbeatTimeout = 50 * time.Millisecond
	raftCfg.ElectionTimeout = 50 * time.Millisecond
	raftCfg.LeaderLeaseTimeout = 50 * time.Millisecond
	raftCfg.CommitTimeout = 5 * time.Millisecond
	sc.RaftConfig = raftCfg
	sc.SessionTTLMin = 20 * time.Millisecond
	sc.LeaderWait = 500 * time.Millisecond
	sc.ApplyTimeout = 5 * time.Second
	sc.QuorumProbeTimeout = 100 * time.Millisecond
	sc.Logger = c.cfg.Logger.With("node", n.Name)
	if c.cfg.Server != nil {
		c.cfg.Server(n, sc)
	}
	s, err := server.New(sc, server.Deps{Transport: n.trans, Servers: n.Endpoint, Forwarder: router})
	if err != nil {
		t.Fatalf("fedtest: server %s: %v", n.Name, err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("fedtest: start %s: %v", n.Name, err)
	}
	n.Server = s
	c.Net.Attach(n.Addr, s)
}

// rttFrom is n's router's view of the WAN coordinates.
func (c *Cluster) rttFrom(from *Node) federation.RTTFunc {
	return func(wanName string) (time.Duration, bool) {
		to := c.find(wanName)
		if to == nil {
			return 0, false
		}
		if c.cfg.RTT != nil {
			return c.cfg.RTT(from, to), true
		}
		if from.DC == to.DC {
			return time.Millisecond, true
		}
		return 10 * time.Millisecond, true
	}
}

// find returns the node a WAN name, node name or address stands for.
func (c *Cluster) find(id string) *Node {
	for _, n := range c.nodes {
		if n.Name == id || n.NodeName == id || string(n.Addr) == id {
			return n
		}
	}
	return nil
}

// Node returns the server a WAN name (NODE.DC), node name or address
// stands for; the test fails if there is none.
func (c *Cluster) Node(id string) *Node {
	c.t.Helper()
	n := c.find(id)
	if n == nil {
		c.t.Fatalf("fedtest: no server %q", id)
	}
	return n
}

// Servers lists dc's servers in start order, killed ones included.
func (c *Cluster) Servers(dc string) []*Node {
	c.t.Helper()
	ns, ok := c.byDC[dc]
	if !ok {
		c.t.Fatalf("fedtest: no datacenter %q", dc)
	}
	return slices.Clone(ns)
}

// Killed reports whether n was killed.
func (c *Cluster) Killed(n *Node) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return n.killed
}

// Leader returns dc's leader as of now, nil when no live server leads
// (or, in a partition, more than one believes it does).
func (c *Cluster) Leader(dc string) *Node {
	c.t.Helper()
	var leader *Node
	for _, n := range c.Servers(dc) {
		if c.Killed(n) || !n.Server.IsLeader() {
			continue
		}
		if leader != nil {
			return nil
		}
		leader = n
	}
	return leader
}

// Followers returns dc's live servers that do not lead.
func (c *Cluster) Followers(dc string) []*Node {
	c.t.Helper()
	var out []*Node
	for _, n := range c.Servers(dc) {
		if !c.Killed(n) && !n.Server.IsLeader() {
			out = append(out, n)
		}
	}
	return out
}

// WaitLeader waits until dc has one leader that every live server of dc
// not cut off from it knows, and returns it.
func (c *Cluster) WaitLeader(dc string) *Node {
	c.t.Helper()
	var leader *Node
	c.WaitFor(fmt.Sprintf("a leader in %s", dc), func() bool {
		leader = c.Leader(dc)
		if leader == nil {
			return false
		}
		for _, n := range c.Servers(dc) {
			if c.Killed(n) || c.Net.IsCut(n.Addr, leader.Addr) {
				continue
			}
			if n.Server.Leader() != raft.ServerAddress(leader.Addr) {
				return false
			}
		}
		return true
	})
	return leader
}

// WaitLeaders waits until every datacenter has a leader (see WaitLeader).
func (c *Cluster) WaitLeaders() {
	c.t.Helper()
	for _, dc := range c.cfg.DCs {
		c.WaitLeader(dc.Name)
	}
}

// WaitFor polls cond every few milliseconds until it holds, failing the
// test after Config.Wait.
func (c *Cluster) WaitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(c.cfg.Wait)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("fedtest: timed out after %v waiting for %s", c.cfg.Wait, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// RPC sends a call to server i of dc (in start order), bounded by
// 3×Config.Wait.
func (c *Cluster) RPC(dc string, i int, method structs.Method, args, reply any) error {
	c.t.Helper()
	ns := c.Servers(dc)
	if i < 0 || i >= len(ns) {
		c.t.Fatalf("fedtest: %s has no server %d", dc, i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*c.cfg.Wait)
	defer cancel()
	return ns[i].Server.RPC(ctx, method, args, reply)
}

// resolve turns WAN names, node names, addresses and datacenter names
// (standing for all their servers) into nodes.
func (c *Cluster) resolve(ids []string) []*Node {
	c.t.Helper()
	var out []*Node
	for _, id := range ids {
		if ns, ok := c.byDC[id]; ok {
			out = append(out, ns...)
			continue
		}
		out = append(out, c.Node(id))
	}
	return out
}

// Partition cuts every link between a server of a and a server of b, on
// the Net and, within a datacenter, in Raft. Each id is a datacenter
// name (all its servers), a WAN name, a node name or an address.
func (c *Cluster) Partition(a, b []string) {
	c.t.Helper()
	as, bs := c.resolve(a), c.resolve(b)
	for _, x := range as {
		for _, y := range bs {
			if x == y {
				continue
			}
			c.Net.Cut(x.Addr, y.Addr)
			if x.DC == y.DC {
				x.trans.Disconnect(y.trans.LocalAddr())
				y.trans.Disconnect(x.trans.LocalAddr())
			}
		}
	}
}

// Isolate cuts the named servers off from every other server.
func (c *Cluster) Isolate(ids ...string) {
	c.t.Helper()
	ns := c.resolve(ids)
	var rest []string
	for _, n := range c.nodes {
		if !slices.Contains(ns, n) {
			rest = append(rest, n.Name)
		}
	}
	c.Partition(ids, rest)
}

// CutDC cuts dc off from every other datacenter; its own servers still
// reach each other.
func (c *Cluster) CutDC(dc string) {
	c.t.Helper()
	var others []string
	for _, d := range c.cfg.DCs {
		if d.Name != dc {
			others = append(others, d.Name)
		}
	}
	c.Partition([]string{dc}, others)
}

// Heal restores every link between live servers. Routers find out by
// their own probes.
func (c *Cluster) Heal() {
	c.Net.Heal()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ns := range c.byDC {
		for _, a := range ns {
			for _, b := range ns {
				if a != b && !a.killed && !b.killed {
					a.trans.Connect(b.trans.LocalAddr(), b.trans)
				}
			}
		}
	}
}

// Kill stops n for good: its router stops, its server shuts down, its
// address refuses connections, Raft peers lose it, and every other
// router is told it failed, as gossip would tell them.
func (c *Cluster) Kill(n *Node) {
	c.t.Helper()
	c.mu.Lock()
	if n.killed {
		c.mu.Unlock()
		return
	}
	n.killed = true
	c.mu.Unlock()
	n.cancelRun()
	c.Net.Kill(n.Addr)
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Wait)
	defer cancel()
	if err := n.Server.Shutdown(ctx); err != nil {
		c.t.Errorf("fedtest: shutdown %s: %v\n%s", n.Name, err, stacks())
	}
	select {
	case <-n.runDone:
	case <-ctx.Done():
		c.t.Errorf("fedtest: router of %s did not stop", n.Name)
	}
	for _, o := range c.byDC[n.DC] {
		if o != n {
			o.trans.Disconnect(n.trans.LocalAddr())
		}
	}
	n.trans.DisconnectAll()
	for _, o := range c.nodes {
		if o != n {
			o.Router.UpdateServer(federation.Server{Name: n.Name, Datacenter: n.DC, Addr: n.Addr, Status: structs.StatusFailed})
		}
	}
}

// shutdown stops every router and server and closes the Net.
func (c *Cluster) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, n := range c.nodes {
		if n.cancelRun != nil {
			n.cancelRun()
		}
	}
	for _, n := range c.nodes {
		if n.runDone == nil {
			continue
		}
		select {
		case <-n.runDone:
		case <-ctx.Done():
			c.t.Errorf("fedtest: router of %s did not stop", n.Name)
		}
	}
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		if n.Server == nil {
			continue
		}
		wg.Go(func() {
			if err := n.Server.Shutdown(ctx); err != nil {
				c.t.Errorf("fedtest: shutdown %s: %v\n%s", n.Name, err, stacks())
			}
		})
	}
	wg.Wait()
	if err := c.Net.Close(ctx); err != nil {
		c.t.Errorf("%v", err)
	}
	for _, n := range c.nodes {
		_ = n.trans.Close()
	}
}

// stacks dumps every goroutine, to show what a shutdown that timed out
// waits for.
func stacks() []byte {
	buf := make([]byte, 1<<20)
	return buf[:runtime.Stack(buf, true)]
}
