package cache

import (
	"context"
	"testing"
	"time"

	"consulate/metrics"
)

// TestRemoteReadThroughByDefault: without Reachable, reads for another
// datacenter always go to the servers and nothing is cached for them;
// with Reachable saying yes, they are cached like local ones.
func TestRemoteReadThroughByDefault(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reachable func(string) bool
		cached    bool
	}{
		{"nil reads through", nil, false},
		{"reachable caches", func(string) bool { return true }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake()
			c := newTestCache(t, f.RPC, func(c *Config) { c.RefreshWait, c.Reachable = time.Second, tc.reachable })
			defer c.Shutdown(context.Background())
			for i := 0; i < 3; i++ {
				if v, err := get(t, c, "dc2"); err != nil || v != 1 {
					t.Fatalf("read %d: %d %v", i, v, err)
				}
			}
			if tc.cached {
				if c.Len() != 1 {
					t.Fatalf("%d entries, want the remote read cached", c.Len())
				}
				return
			}
			if n := f.calls.Load(); n != 3 || c.Len() != 0 {
				t.Fatalf("%d calls, %d entries; want 3 calls, nothing cached", n, c.Len())
			}
		})
	}
}

func TestCollect(t *testing.T) {
	f := newFake()
	c := newTestCache(t, f.RPC, func(c *Config) { c.RefreshWait = time.Second })
	defer c.Shutdown(context.Background())
	get(t, c, "")
	get(t, c, "")
	got := map[string]float64{}
	c.Collect(func(name string, l metrics.Labels, v float64) {
		if l == nil || len(l) != 0 {
			t.Errorf("%s labels %v", name, l)
		}
		got[name] = v
	})
	st := c.Stats()
	want := map[string]float64{
		"consul.cache.entries_count":        float64(st.Entries),
		"consul.dns.cache.negative_entries": float64(st.Negative),
		"consul.dns.cache.recent_names":     float64(st.Recent),
	}
	if len(got) != len(want) {
		t.Fatalf("gauges %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
