package fedtest_test

import (
	"errors"
	"testing"
	"time"

	"consulate/federation"
	"consulate/internal/fedtest"
	"consulate/structs"
)

// A blocking query waiting in dc2 when dc2 is cut off fails soon, once
// the probes find the cut, instead of waiting out its MaxQueryTime.
func TestBlockingQueryFailsWhenRemoteDCCut(t *testing.T) {
	c := twoDCs(t)
	from := c.Followers("dc1")[0]
	var first structs.IndexedDirEntries
	call(t, from, structs.MethodKVSGet, &structs.KeyRequest{Datacenter: "dc2", Key: "k"}, &first)

	errc := make(chan error, 1)
	served := c.Net.Served(c.Leader("dc2").Addr)
	go func() {
		errc <- callErr(from, structs.MethodKVSGet, &structs.KeyRequest{Datacenter: "dc2", Key: "k",
			QueryOptions: structs.QueryOptions{MinQueryIndex: first.Index, MaxQueryTime: 8 * time.Second}}, new(structs.IndexedDirEntries))
	}()
	c.WaitFor("the query to reach dc2's leader", func() bool { return c.Net.Served(c.Leader("dc2").Addr) > served })
	c.CutDC("dc2")
	cut := time.Now()
	select {
	case err := <-errc:
		if !errors.Is(err, structs.ErrNoDCPath) {
			t.Fatalf("want ErrNoDCPath, got %v", err)
		}
		t.Logf("failed %v after the cut: %v", time.Since(cut), err)
	case <-time.After(3 * time.Second):
		t.Fatal("blocking query still waiting 3s after dc2 was cut off")
	}
}

// dc2 losing servers: calls for it fail fast with an error that says why,
// and a stale read is still answered by a survivor without a leader.
func TestRemoteDCLosesServers(t *testing.T) {
	c := twoDCs(t)
	from := c.Followers("dc1")[0]
	dc2 := writeEverywhere(t, c, from, "dc2", "k", "v")

	// Two of three gone: no quorum in dc2.
	c.Kill(dc2[0])
	c.Kill(dc2[1])
	cases := []struct {
		name    string
		method  structs.Method
		args    any
		reply   any
		wantErr error // nil: must succeed
	}{
		{"stale read", structs.MethodKVSGet, &structs.KeyRequest{Datacenter: "dc2", Key: "k",
			QueryOptions: structs.QueryOptions{AllowStale: true}}, new(structs.IndexedDirEntries), nil},
		{"leader read", structs.MethodKVSGet, &structs.KeyRequest{Datacenter: "dc2", Key: "k"}, new(structs.IndexedDirEntries), structs.ErrNoDCPath},
		{"write", structs.MethodKVSApply, kvSet("dc2", "k2", "v"), new(bool), structs.ErrNoDCPath},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := callErr(from, tc.method, tc.args, tc.reply)
			took := time.Since(start)
			t.Logf("%v after %v", err, took)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got := tc.reply.(*structs.IndexedDirEntries); len(got.Entries) != 1 {
					t.Fatalf("stale read %+v", got)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("want %v, got %v", tc.wantErr, err)
			}
			if took > 2*time.Second {
				t.Fatalf("took %v", took)
			}
		})
	}

	// All gone: known unreachable at once.
	c.Kill(dc2[2])
	start := time.Now()
	err := callErr(from, structs.MethodKVSGet, &structs.KeyRequest{Datacenter: "dc2", Key: "k",
		QueryOptions: structs.QueryOptions{AllowStale: true}}, new(structs.IndexedDirEntries))
	if !errors.Is(err, structs.ErrNoDCPath) || time.Since(start) > 50*time.Millisecond {
		t.Fatalf("all dc2 servers failed: %v after %v", err, time.Since(start))
	}
}

// A dc2 server that answers "no leader" did answer: it is reachable, and
// a stale read it could serve must not be refused as "unreachable".
// Probes are off, so only the call's own evidence counts (with probes a
// wrong verdict would last one probe interval; before the fix it kept the
// server quarantined for Quarantine, 10 s).
func TestNoLeaderAnswerKeepsServerUsable(t *testing.T) {
	c := fedtest.New(t, fedtest.Config{
		DCs:    []fedtest.DC{{Name: "dc1", Servers: 1}, {Name: "dc2", Servers: 3}},
		Router: func(_ *fedtest.Node, cfg *federation.Config) { cfg.ProbeInterval = 0 },
	})
	from := c.Servers("dc1")[0]
	dc2 := writeEverywhere(t, c, from, "dc2", "k", "v")
	c.Kill(dc2[0])
	c.Kill(dc2[1])
	if err := callErr(from, structs.MethodKVSGet, &structs.KeyRequest{Datacenter: "dc2", Key: "k"}, new(structs.IndexedDirEntries)); !errors.Is(err, structs.ErrNoDCPath) {
		t.Fatalf("leader read without a dc2 quorum: %v", err)
	}
	var out structs.IndexedDirEntries
	call(t, from, structs.MethodKVSGet, &structs.KeyRequest{Datacenter: "dc2", Key: "k", QueryOptions: structs.QueryOptions{AllowStale: true}}, &out)
	if len(out.Entries) != 1 {
		t.Fatalf("stale read %+v", out)
	}
}

// writeEverywhere writes key=value in dc through from and waits until
// every server of dc holds it; it returns dc's servers.
func writeEverywhere(t *testing.T, c *fedtest.Cluster, from *fedtest.Node, dc, key, value string) []*fedtest.Node {
	t.Helper()
	var ok bool
	call(t, from, structs.MethodKVSApply, kvSet(dc, key, value), &ok)
	servers := c.Servers(dc)
	for _, n := range servers {
		c.WaitFor("replication of "+key+" to "+n.Name, func() bool { _, ok := localKV(t, n, key); return ok })
	}
	return servers
}
