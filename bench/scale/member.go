package main

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"consulate/gossip"
)

// member is one in-process pool member with its transport and observer.
type member struct {
	name  string
	addr  string // ip:port
	pool  *gossip.Pool
	tr    *faultTransport
	w     *watcher
	stats counters
	dead  bool
}

// memberAddr is the i-th address (from 0) under base (a /16): the third
// and fourth octets count 1..250, so no address ends in .0 or .255.
func memberAddr(base net.IP, i int) string {
	b := base.To4()
	return net.IPv4(b[0], b[1], byte(i/250), byte(i%250+1)).String()
}

// wire sets the observer and the transport wrapper on g for m; loss is
// read at every packet, so the soak can turn loss on after convergence.
func (m *member) wire(g *gossip.Config, ip string, port int, loss *atomicFloat) {
	m.w = newWatcher()
	m.addr = net.JoinHostPort(ip, strconv.Itoa(port))
	g.BindAddr, g.BindPort = ip, port
	g.AdvertiseAddr, g.AdvertisePort = ip, port
	g.Observer = m.w.observe
	g.WrapTransport = func(inner memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
		m.tr = newFaultTransport(inner, &m.stats, loss.Load)
		return m.tr
	}
}

// drain reads the pool's events (as the agent's event loops do) until the
// pool shuts down, calling fn for each when fn is set.
func (m *member) drain(fn func(gossip.Event)) {
	go func() {
		for ev := range m.pool.Events() {
			if fn != nil {
				fn(ev)
			}
		}
	}()
}

// kill makes m a dead host: nothing in or out.
func (m *member) kill() {
	m.dead = true
	m.tr.dead.Store(true)
}

// atomicFloat is a float64 read on every packet.
type atomicFloat struct{ bits atomic.Uint64 }

func (f *atomicFloat) Load() float64 { return math.Float64frombits(f.bits.Load()) }

func (f *atomicFloat) Store(v float64) { f.bits.Store(math.Float64bits(v)) }

// parallel runs fn(i) for i in [0,n) with at most width at a time and
// returns the first error.
func parallel(n, width int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, width)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// waitUntil polls cond every interval until it holds or timeout passes.
func waitUntil(ctx context.Context, timeout, interval time.Duration, what string, cond func() bool) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if cond() {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s: not reached within %s", what, timeout)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}

// shutdownAll stops every pool without leaving, each bounded, the whole
// bounded to a minute (the process is about to end anyway).
func shutdownAll(ms []*member) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		stopPools(ms)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		fmt.Fprintln(os.Stderr, "scale: pools still shutting down after 1 min; leaving them")
	}
}

func stopPools(ms []*member) {
	_ = parallel(len(ms), 32, func(i int) error {
		if ms[i] == nil || ms[i].pool == nil {
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return ms[i].pool.Shutdown(ctx)
	})
}

// window measures traffic and CPU of the live members over d.
type window struct {
	Seconds            float64 `json:"seconds"`
	BytesPerSecMean    float64 `json:"bytes_per_sec_per_member_mean"`
	BytesPerSecMax     float64 `json:"bytes_per_sec_per_member_max"`
	PacketsPerSecMean  float64 `json:"packets_per_sec_per_member_mean"`
	CPUPerMemberMillis float64 `json:"cpu_ms_per_sec_per_member"`
	CPUProcessPercent  float64 `json:"cpu_process_percent"`
}

func measureWindow(ctx context.Context, ms []*member, d time.Duration) window {
	live := make([]*member, 0, len(ms))
	for _, m := range ms {
		if !m.dead {
			live = append(live, m)
		}
	}
	before := make([]uint64, len(live))
	pkts := make([]uint64, len(live))
	for i, m := range live {
		before[i] = m.stats.total()
		pkts[i] = m.stats.packetsOut.Load() + m.stats.packetsIn.Load()
	}
	cpu0, t0 := cpuTime(), time.Now()
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
	cpu, secs := cpuTime()-cpu0, time.Since(t0).Seconds()
	var w window
	w.Seconds = secs
	var sum, psum float64
	for i, m := range live {
		b := float64(m.stats.total()-before[i]) / secs
		sum += b
		w.BytesPerSecMax = max(w.BytesPerSecMax, b)
		psum += float64(m.stats.packetsOut.Load()+m.stats.packetsIn.Load()-pkts[i]) / secs
	}
	n := float64(len(live))
	w.BytesPerSecMean = sum / n
	w.PacketsPerSecMean = psum / n
	w.CPUPerMemberMillis = float64(cpu.Milliseconds()) / secs / n
	w.CPUProcessPercent = 100 * cpu.Seconds() / secs
	return w
}

// progress calls fn every interval until the returned func is called.
func progress(ctx context.Context, interval time.Duration, fn func()) func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				fn()
			}
		}
	}()
	return func() { close(done); <-finished }
}
