package chaos

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// Prober writes to a key of its own through every agent, a new write
// every Interval without waiting for the last one (at most probeMaxInFlight per
// agent), so that the moment writes resume through an agent is seen to
// within about Interval, however long a stuck write hangs. The workload's
// clients cannot tell this: one of them stuck on a dead agent says nothing
// about the others.
type Prober struct {
	agents   []string
	kvs      []*api.KV
	since    func() time.Duration
	interval time.Duration
	timeout  time.Duration
	slots    []chan struct{}

	// mu guards ok.
	mu sync.Mutex
	ok map[string][]span // per agent, answered writes in call order

	wg     sync.WaitGroup
	cancel context.CancelFunc
}

type span struct{ call, ret time.Duration }

// Probe intervals and bounds.
const (
	probeInterval    = 100 * time.Millisecond
	probeTimeout     = 2 * time.Second
	probeMaxInFlight = 25
)

// NewProber prepares a prober on agents; clock is the workload's clock.
func NewProber(agents []string, clock func() time.Duration) (*Prober, error) {
	if len(agents) == 0 {
		return nil, errors.New("chaos: the prober needs at least one agent")
	}
	p := &Prober{agents: agents, since: clock, interval: probeInterval, timeout: probeTimeout, ok: map[string][]span{}}
	for _, ip := range agents {
		kv, err := NewKVClient(ip)
		if err != nil {
			return nil, fmt.Errorf("chaos: probe client for %s: %w", ip, err)
		}
		p.kvs = append(p.kvs, kv)
		p.slots = append(p.slots, make(chan struct{}, probeMaxInFlight))
	}
	return p, nil
}

// Start runs the probes until Stop.
func (p *Prober) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(p.interval)
		defer t.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for i := range p.agents {
				select {
				case p.slots[i] <- struct{}{}:
				default:
					continue // this agent already has enough writes hanging
				}
				p.wg.Add(1)
				go func() {
					defer p.wg.Done()
					defer func() { <-p.slots[i] }()
					p.probe(ctx, i, n)
				}()
			}
		}
	}()
}

// Stop ends the probes and waits for those in flight (bounded by the
// probe timeout).
func (p *Prober) Stop() {
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
}

func (p *Prober) probe(ctx context.Context, i, n int) {
	octx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	call := p.since()
	ip := p.agents[i]
	_, err := p.kvs[i].Put(&api.KVPair{Key: "chaos/probe/" + ip, Value: []byte(fmt.Sprint(n))},
		(&api.WriteOptions{}).WithContext(octx))
	if err != nil {
		return
	}
	ret := p.since()
	p.mu.Lock()
	p.ok[ip] = append(p.ok[ip], span{call, ret})
	p.mu.Unlock()
}

// FirstOK returns when the first write through ip called at or after
// since answered, and whether one did.
func (p *Prober) FirstOK(ip string, since time.Duration) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var best time.Duration
	found := false
	// Spans are appended in return order; calls are close to sorted, so
	// scan back from the end until calls are well before since.
	s := p.ok[ip]
	for j := len(s) - 1; j >= 0; j-- {
		if s[j].ret < since {
			break
		}
		if s[j].call >= since && (!found || s[j].ret < best) {
			best, found = s[j].ret, true
		}
	}
	return best, found
}
