package fedtest_test

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"consulate/federation"
	"consulate/internal/fedtest"
	"consulate/structs"
)

// A read for dc2 sent to a dc1 follower is answered from dc2's catalog.
func TestCrossDCRead(t *testing.T) {
	c := twoDCs(t)
	register(t, c.Followers("dc2")[0], "", "remote-node", "web", structs.HealthPassing)
	from := c.Followers("dc1")[0]

	cases := []struct {
		name  string
		stale bool
	}{{"leader read", false}, {"stale read", true}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out structs.IndexedCheckServiceNodes
			c.WaitFor("dc2's catalog to have the node", func() bool {
				out = structs.IndexedCheckServiceNodes{}
				call(t, from, structs.MethodHealthServiceNodes, &structs.ServiceSpecificRequest{
					Datacenter: "dc2", ServiceName: "web", QueryOptions: structs.QueryOptions{AllowStale: tc.stale}}, &out)
				return len(out.Nodes) == 1
			})
			if out.Nodes[0].Node.Node != "remote-node" || !out.KnownLeader {
				t.Fatalf("reply %+v", out)
			}
			// The local catalog never saw it.
			call(t, from, structs.MethodHealthServiceNodes, &structs.ServiceSpecificRequest{ServiceName: "web"}, &out)
			if len(out.Nodes) != 0 {
				t.Fatalf("dc1 has %d web nodes", len(out.Nodes))
			}
		})
	}
}

// A write for dc2 sent to a dc1 follower is applied by dc2's leader and
// replicated in dc2 only.
func TestCrossDCWriteLandsOnRemoteLeader(t *testing.T) {
	c := twoDCs(t)
	from := c.Followers("dc1")[0]
	leader2 := c.Leader("dc2")
	served := c.Net.Served(leader2.Addr)
	var ok bool
	call(t, from, structs.MethodKVSApply, kvSet("dc2", "k", "v"), &ok)
	if !ok {
		t.Fatal("KVS.Apply answered false")
	}
	if c.Net.Served(leader2.Addr) == served {
		t.Fatal("dc2's leader served no call")
	}
	// Applied through dc2's Raft: on its leader at once, then everywhere
	// in dc2, and nowhere in dc1.
	if v, ok := localKV(t, leader2, "k"); !ok || v != "v" {
		t.Fatalf("dc2 leader has %q %v", v, ok)
	}
	for _, n := range c.Servers("dc2") {
		c.WaitFor("replication in dc2", func() bool { _, ok := localKV(t, n, "k"); return ok })
	}
	for _, n := range c.Servers("dc1") {
		if _, ok := localKV(t, n, "k"); ok {
			t.Fatalf("%s has the dc2 key", n.Name)
		}
	}
}

// When dc2's leader dies, a cross-DC write fails for a while at most, then
// succeeds again through the new leader.
func TestRemoteLeaderKilled(t *testing.T) {
	c := twoDCs(t)
	from := c.Followers("dc1")[0]
	var ok bool
	call(t, from, structs.MethodKVSApply, kvSet("dc2", "before", "1"), &ok)

	old := c.Leader("dc2")
	c.Kill(old)
	start := time.Now()
	var lastErr error
	c.WaitFor("a cross-DC write after the re-election", func() bool {
		lastErr = callErr(from, structs.MethodKVSApply, kvSet("dc2", "after", "1"), &ok)
		return lastErr == nil
	})
	t.Logf("write succeeded again %v after the kill", time.Since(start))
	leader := c.WaitLeader("dc2")
	if leader == old {
		t.Fatal("the killed server still leads")
	}
	for _, key := range []string{"before", "after"} {
		if _, ok := localKV(t, leader, key); !ok {
			t.Fatalf("new leader lacks %q", key)
		}
	}
	// The killed server is never tried again: reads keep working at once.
	for range 5 {
		var out structs.IndexedDirEntries
		call(t, from, structs.MethodKVSGet, &structs.KeyRequest{Datacenter: "dc2", Key: "after"}, &out)
		if len(out.Entries) != 1 {
			t.Fatalf("read %+v", out)
		}
	}
}

// dc2 cut off: calls for it from dc1 fail with ErrNoDCPath within the
// router's attempt budget, then at once once the probes have found the
// cut, while dc1 itself keeps working; after the heal they succeed again
// within a few probe intervals.
func TestCutDCFailsFastAndHeals(t *testing.T) {
	cases := []struct {
		name   string
		method structs.Method
		args   func() any
		reply  func() any
		from   string // datacenter sending the calls
		cut    string // datacenter cut off
	}{
		{"read dc1 to dc2", structs.MethodCatalogListNodes,
			func() any { return &structs.DCSpecificRequest{Datacenter: "dc2"} },
			func() any { return new(structs.IndexedNodes) }, "dc1", "dc2"},
		{"write dc1 to dc2", structs.MethodKVSApply,
			func() any { return kvSet("dc2", "k", "v") },
			func() any { return new(bool) }, "dc1", "dc2"},
		{"read dc2 to dc1 (cut dc2)", structs.MethodKVSGet,
			func() any { return &structs.KeyRequest{Datacenter: "dc1", Key: "k"} },
			func() any { return new(structs.IndexedDirEntries) }, "dc2", "dc2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := twoDCs(t)
			from := c.Followers(tc.from)[0]
			call(t, from, tc.method, tc.args(), tc.reply())

			c.CutDC(tc.cut)
			// The first call may wait out one attempt, never longer.
			start := time.Now()
			err := callErr(from, tc.method, tc.args(), tc.reply())
			t.Logf("first call after the cut failed after %v: %v", time.Since(start), err)
			if took := time.Since(start); took > 1500*time.Millisecond {
				t.Fatalf("first call after the cut took %v", took)
			}
			if !errors.Is(err, structs.ErrNoDCPath) {
				t.Fatalf("first call after the cut: want ErrNoDCPath, got %v", err)
			}
			// Soon the router knows, and fails without waiting.
			c.WaitFor("calls to fail at once", func() bool {
				start := time.Now()
				err := callErr(from, tc.method, tc.args(), tc.reply())
				if !errors.Is(err, structs.ErrNoDCPath) {
					t.Fatalf("during the cut: want ErrNoDCPath, got %v", err)
				}
				return time.Since(start) < 50*time.Millisecond
			})
			// The local datacenter is unaffected.
			var ok bool
			call(t, from, structs.MethodKVSApply, kvSet("", "local", "1"), &ok)

			c.Heal()
			healed := time.Now()
			c.WaitFor("calls to succeed after the heal", func() bool {
				return callErr(from, tc.method, tc.args(), tc.reply()) == nil
			})
			if d := time.Since(healed); d > 2*time.Second {
				t.Fatalf("took %v after the heal", d)
			}
		})
	}
}

// A blocking query on dc2 sent to a dc1 follower returns when the key
// changes in dc2, well before its wait is up.
func TestBlockingQueryAcrossDCs(t *testing.T) {
	c := twoDCs(t)
	from := c.Followers("dc1")[0]
	var ok bool
	call(t, c.Servers("dc2")[0], structs.MethodKVSApply, kvSet("", "k", "1"), &ok)
	var first structs.IndexedDirEntries
	call(t, from, structs.MethodKVSGet, &structs.KeyRequest{Datacenter: "dc2", Key: "k"}, &first)
	if len(first.Entries) != 1 || first.Index == 0 {
		t.Fatalf("first read %+v", first)
	}

	type result struct {
		out  structs.IndexedDirEntries
		err  error
		took time.Duration
	}
	served := func() (sum int64) {
		for _, n := range c.Servers("dc2") {
			sum += c.Net.Served(n.Addr)
		}
		return sum
	}
	before := served()
	done := make(chan result, 1)
	go func() {
		var r result
		start := time.Now()
		r.err = callErr(from, structs.MethodKVSGet, &structs.KeyRequest{Datacenter: "dc2", Key: "k",
			QueryOptions: structs.QueryOptions{MinQueryIndex: first.Index, MaxQueryTime: 10 * time.Second}}, &r.out)
		r.took = time.Since(start)
		done <- r
	}()
	// Let the query reach dc2 (should the change still come before it
	// blocks, it returns at once with the change: no less right).
	c.WaitFor("the query to reach dc2", func() bool {
		select {
		case r := <-done:
			t.Fatalf("returned before the change: %+v %v", r.out, r.err)
		default:
		}
		return served() > before
	})
	call(t, c.Followers("dc2")[0], structs.MethodKVSApply, kvSet("", "k", "2"), &ok)
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.out.Index <= first.Index || len(r.out.Entries) != 1 || string(r.out.Entries[0].Value) != "2" {
			t.Fatalf("woke with %+v", r.out)
		}
		if r.took > 5*time.Second {
			t.Fatalf("woke after %v", r.took)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocking query did not wake on the change in dc2")
	}
}

// A prepared query run in dc1, which has no healthy instance, fails over
// to another datacenter: the listed ones, or the nearest by RTT.
func TestPreparedQueryFailover(t *testing.T) {
	// dc3 is nearer to dc1 than dc2 is.
	rtt := func(from, to *fedtest.Node) time.Duration {
		pair := []string{from.DC, to.DC}
		slices.Sort(pair)
		switch {
		case from.DC == to.DC:
			return time.Millisecond
		case pair[0] == "dc1" && pair[1] == "dc3":
			return 5 * time.Millisecond
		}
		return 30 * time.Millisecond
	}
	c := fedtest.New(t, fedtest.Config{RTT: rtt, DCs: []fedtest.DC{{Name: "dc1", Servers: 3}, {Name: "dc2", Servers: 1}, {Name: "dc3", Servers: 1}}})
	from := c.Followers("dc1")[0]
	register(t, from, "dc1", "sick", "web", structs.HealthCritical)
	register(t, from, "dc2", "n2", "web", structs.HealthPassing)
	register(t, from, "dc3", "n3", "web", structs.HealthPassing)

	cases := []struct {
		name      string
		failover  structs.QueryFailoverOptions
		wantDC    string
		failovers int
	}{
		// dc9 is unknown: skipped, not counted (as Consul).
		{"listed", structs.QueryFailoverOptions{Datacenters: []string{"dc9", "dc2"}}, "dc2", 1},
		{"nearest", structs.QueryFailoverOptions{NearestN: 1}, "dc3", 1},
		{"nearest then listed", structs.QueryFailoverOptions{NearestN: 1, Datacenters: []string{"dc2"}}, "dc3", 1},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var id string
			call(t, from, structs.MethodPreparedQueryApply, &structs.PreparedQueryRequest{Op: structs.PreparedQueryCreate,
				Query: &structs.PreparedQuery{Name: fmt.Sprintf("q%d", i),
					Service: structs.ServiceQuery{Service: "web", OnlyPassing: true, Failover: tc.failover}}}, &id)
			var resp structs.PreparedQueryExecuteResponse
			call(t, from, structs.MethodPreparedQueryExecute, &structs.PreparedQueryExecuteRequest{QueryIDOrName: id}, &resp)
			if resp.Datacenter != tc.wantDC || resp.Failovers != tc.failovers || len(resp.Nodes) != 1 {
				t.Fatalf("want %s after %d failovers, got %s after %d with %d nodes", tc.wantDC, tc.failovers, resp.Datacenter, resp.Failovers, len(resp.Nodes))
			}
		})
	}

	// Every server lists the datacenters nearest first.
	for _, n := range c.Servers("dc1") {
		var dcs structs.DatacentersReply
		call(t, n, structs.MethodCatalogDatacenters, &structs.EmptyRequest{}, &dcs)
		if !slices.Equal(dcs.Datacenters, []string{"dc1", "dc3", "dc2"}) {
			t.Fatalf("%s lists %v", n.Name, dcs.Datacenters)
		}
	}

	// dc3 cut off: the nearest-first query moves on to the listed dc2.
	c.CutDC("dc3")
	var id string
	call(t, from, structs.MethodPreparedQueryApply, &structs.PreparedQueryRequest{Op: structs.PreparedQueryCreate,
		Query: &structs.PreparedQuery{Name: "q-cut", Service: structs.ServiceQuery{Service: "web", OnlyPassing: true,
			Failover: structs.QueryFailoverOptions{NearestN: 1, Datacenters: []string{"dc2"}}}}}, &id)
	var resp structs.PreparedQueryExecuteResponse
	call(t, from, structs.MethodPreparedQueryExecute, &structs.PreparedQueryExecuteRequest{QueryIDOrName: id}, &resp)
	if resp.Datacenter != "dc2" || len(resp.Nodes) != 1 {
		t.Fatalf("with dc3 cut: got %s with %d nodes", resp.Datacenter, len(resp.Nodes))
	}
}

// A datacenter nobody knows fails at once with *structs.ErrUnknownDC
// naming the known ones, for every kind of call.
func TestUnknownDC(t *testing.T) {
	c := fedtest.New(t, fedtest.Config{DCs: []fedtest.DC{{Name: "dc1", Servers: 1}, {Name: "dc2", Servers: 1}}})
	cases := []struct {
		name   string
		method structs.Method
		args   any
		reply  any
	}{
		{"read", structs.MethodCatalogListNodes, &structs.DCSpecificRequest{Datacenter: "dc9"}, new(structs.IndexedNodes)},
		{"write", structs.MethodKVSApply, kvSet("dc9", "k", "v"), new(bool)},
		{"blocking", structs.MethodKVSGet, &structs.KeyRequest{Datacenter: "dc9", Key: "k",
			QueryOptions: structs.QueryOptions{MinQueryIndex: 5, MaxQueryTime: time.Minute}}, new(structs.IndexedDirEntries)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := c.RPC("dc1", 0, tc.method, tc.args, tc.reply)
			var udc *structs.ErrUnknownDC
			if !errors.As(err, &udc) || udc.DC != "dc9" || !slices.Equal(udc.Known, []string{"dc1", "dc2"}) {
				t.Fatalf("want ErrUnknownDC for dc9 knowing dc1 dc2, got %v", err)
			}
			if took := time.Since(start); took > 100*time.Millisecond {
				t.Fatalf("took %v", took)
			}
		})
	}
}

// A dc1 server cut off from its own datacenter answers dc2's calls with
// no-leader, and dc2's router moves on to another dc1 server.
func TestCrossDCCallSkipsCutOffServer(t *testing.T) {
	c := twoDCs(t)
	old := c.Leader("dc1")
	var peers []string
	for _, n := range c.Servers("dc1") {
		if n != old {
			peers = append(peers, n.Name)
		}
	}
	// Cut the dc1 leader from its peers only: dc2 still reaches it.
	c.Partition([]string{old.Name}, peers)
	c.WaitFor("a new dc1 leader", func() bool {
		l := c.Leader("dc1")
		return l != nil && l != old && old.Server.Leader() == ""
	})
	from := c.Servers("dc2")[0]
	served := c.Net.Served(old.Addr)
	for i := range 10 {
		var ok bool
		if err := callErr(from, structs.MethodKVSApply, kvSet("dc1", "k", "v"), &ok); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		var out structs.IndexedDirEntries
		if err := callErr(from, structs.MethodKVSGet, &structs.KeyRequest{Datacenter: "dc1", Key: "k"}, &out); err != nil || len(out.Entries) != 1 {
			t.Fatalf("read %d: %+v %v", i, out, err)
		}
	}
	t.Logf("the cut-off server was asked %d times", c.Net.Served(old.Addr)-served)

	// Healed, the old leader catches up through Raft.
	c.Heal()
	c.WaitLeader("dc1")
	c.WaitFor("the old leader to catch up", func() bool { _, ok := localKV(t, old, "k"); return ok })
}

// Without probes, the first call to a datacenter cut off waits out the
// router's AttemptTimeout, no longer; the router then knows it is
// unreachable and fails the next calls at once.
func TestCutDCWithoutProbes(t *testing.T) {
	const attempt = 300 * time.Millisecond
	c := fedtest.New(t, fedtest.Config{
		DCs: []fedtest.DC{{Name: "dc1", Servers: 1}, {Name: "dc2", Servers: 2}},
		Router: func(_ *fedtest.Node, cfg *federation.Config) {
			cfg.ProbeInterval = 0
			cfg.AttemptTimeout = attempt
		},
	})
	from := c.Servers("dc1")[0]
	var out structs.IndexedNodes
	call(t, from, structs.MethodCatalogListNodes, &structs.DCSpecificRequest{Datacenter: "dc2"}, &out)
	c.CutDC("dc2")
	// A read tries both dc2 servers within one budget.
	start := time.Now()
	err := callErr(from, structs.MethodCatalogListNodes, &structs.DCSpecificRequest{Datacenter: "dc2"}, &out)
	took := time.Since(start)
	if !errors.Is(err, structs.ErrNoDCPath) || took < attempt-50*time.Millisecond || took > attempt+500*time.Millisecond {
		t.Fatalf("first call: %v after %v (budget %v)", err, took, attempt)
	}
	for range 2 { // each call finds one more dc2 server dead
		_ = callErr(from, structs.MethodCatalogListNodes, &structs.DCSpecificRequest{Datacenter: "dc2"}, &out)
	}
	start = time.Now()
	err = callErr(from, structs.MethodKVSApply, kvSet("dc2", "k", "v"), new(bool))
	if !errors.Is(err, structs.ErrNoDCPath) || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("known unreachable: %v after %v", err, time.Since(start))
	}
}

// A cluster leaves no goroutine behind once its test ends.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("cluster", func(t *testing.T) {
		c := twoDCs(t)
		c.CutDC("dc2")
		c.Isolate(c.Servers("dc2")[2].Name)
		c.Kill(c.Leader("dc1"))
		// A call left hanging across the cut when the test ends.
		from := c.Followers("dc1")[0]
		go func() {
			_ = callErr(from, structs.MethodKVSGet, &structs.KeyRequest{Datacenter: "dc2", Key: "k",
				QueryOptions: structs.QueryOptions{MinQueryIndex: 1, MaxQueryTime: time.Second}}, new(structs.IndexedDirEntries))
		}()
		c.WaitLeader("dc1")
	})
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
