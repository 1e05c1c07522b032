package gossip

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"consulate/gossip/gossiptest"
	"consulate/structs"
)

func testLogger() *slog.Logger {
	if os.Getenv("GOSSIP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testConfig gives a pool on its own loopback address with shrunk timers.
func testConfig(name, ip string) *Config {
	c := DefaultConfig()
	c.NodeName = name
	c.BindAddr = ip
	c.BindPort = 0
	c.Memberlist = gossiptest.MemberlistConfig()
	c.ReconnectInterval = 100 * time.Millisecond
	c.ReapInterval = 50 * time.Millisecond
	c.BroadcastTimeout = 500 * time.Millisecond
	c.LeavePropagateDelay = 50 * time.Millisecond
	c.Logger = testLogger()
	c.Tags = map[string]string{"role": "test", structs.TagID: "id-" + name}
	return c
}

func newTestPool(t *testing.T, cfg *Config) *Pool {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.NodeName, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown(%s): %v", cfg.NodeName, err)
		}
	})
	return p
}

func addrOf(p *Pool) string {
	n := p.Memberlist().LocalNode()
	return net.JoinHostPort(n.Addr.String(), fmt.Sprint(n.Port))
}

func memberStatus(p *Pool, name string) (structs.MemberStatus, bool) {
	for _, m := range p.Members() {
		if m.Name == name {
			return m.Status, true
		}
	}
	return structs.StatusNone, false
}

func waitStatus(t *testing.T, pools []*Pool, name string, want structs.MemberStatus, timeout time.Duration) {
	t.Helper()
	gossiptest.WaitFor(t, timeout, func() (bool, string) {
		for _, p := range pools {
			st, ok := memberStatus(p, name)
			if !ok || st != want {
				return false, fmt.Sprintf("%s sees %s as %s (known=%v), want %s", p.LocalName(), name, st, ok, want)
			}
		}
		return true, ""
	})
}

// collector records every event a pool emits.
type collector struct {
	mu     sync.Mutex
	events []Event
	done   chan struct{}
}

func collect(p *Pool) *collector {
	c := &collector{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for e := range p.Events() {
			c.mu.Lock()
			c.events = append(c.events, e)
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *collector) count(match func(Event) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, e := range c.events {
		if match(e) {
			n++
		}
	}
	return n
}

// cluster starts n pools on 127.0.0.<base+i> and joins them to the first.
func cluster(t *testing.T, base, n int, tweak func(*Config)) []*Pool {
	t.Helper()
	var pools []*Pool
	for i := 0; i < n; i++ {
		cfg := testConfig(fmt.Sprintf("node%d", i+1), fmt.Sprintf("127.0.0.%d", base+i))
		if tweak != nil {
			tweak(cfg)
		}
		pools = append(pools, newTestPool(t, cfg))
	}
	for _, p := range pools[1:] {
		if n, err := p.Join([]string{addrOf(pools[0])}, false); err != nil || n != 1 {
			t.Fatalf("%s join: n=%d err=%v", p.LocalName(), n, err)
		}
	}
	for _, p := range pools {
		waitStatus(t, pools, p.LocalName(), structs.StatusAlive, 5*time.Second)
	}
	return pools
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}
