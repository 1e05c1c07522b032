package federation

import (
	"context"
	"sync"
	"time"

	"consulate/structs"
)

// Prober is what Run needs of the Caller to watch other datacenters:
// rpcmux.Pool implements it. Both must be safe for concurrent use.
type Prober interface {
	// Ping measures a round trip to the server at addr, a server of dc,
	// dialing it if needed; it honours ctx.
	Ping(ctx context.Context, dc structs.Datacenter, addr structs.ServerAddr) (time.Duration, error)
	// CloseSession drops the pooled connections to addr, so the next call
	// dials afresh, and returns how many it closed. It must not block.
	CloseSession(addr structs.ServerAddr) int
}

// maxProbesDown bounds the probes in flight to one server that does not
// answer: a new one starts every DownProbeInterval even while older ones
// wait out their timeout, so the first dial after a heal is never stuck
// behind one that began during the cut.
const maxProbesDown = 4

// probeTarget is one probe to start.
type probeTarget struct {
	dc, name string
	addr     structs.ServerAddr
	timeout  time.Duration
}

// Run pings every server of every other datacenter until ctx ends: those
// that answer every ProbeInterval, those that do not every
// DownProbeInterval. A failed probe marks the server down and closes its
// pooled connections (calls still waiting on a cut connection fail at
// once, and the next call or probe dials afresh); a probe that answers
// brings it back. So the router learns that a datacenter is unreachable
// within about ProbeInterval+ProbeTimeout, and that it is back within
// about DownProbeInterval of the heal, without a user's request paying a
// timeout for either. Run returns at once if the Caller is not a Prober or
// probing is off (ProbeInterval 0).
func (r *Router) Run(ctx context.Context) {
	p, ok := r.caller.(Prober)
	if !ok || r.cfg.ProbeInterval <= 0 {
		return
	}
	tick := r.cfg.DownProbeInterval
	if tick <= 0 || tick > r.cfg.ProbeInterval {
		tick = r.cfg.ProbeInterval
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		for _, pt := range r.dueProbes() {
			wg.Go(func() { r.probe(ctx, p, pt) })
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// dueProbes picks the servers to probe now and marks the probes begun.
func (r *Router) dueProbes() []probeTarget {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	var out []probeTarget
	for dcName, dc := range r.dcs {
		if dcName == r.cfg.LocalDC {
			continue
		}
		for _, s := range dc.servers {
			interval, limit := r.cfg.ProbeInterval, 1
			if s.down(now, r.cfg.Quarantine) {
				interval, limit = r.cfg.DownProbeInterval, maxProbesDown
			}
			// A tick may come a little early; do not skip a whole one.
			if s.probing >= limit || now.Sub(s.lastProbe) < interval*9/10 {
				continue
			}
			s.probing++
			s.lastProbe = now
			timeout := r.cfg.ProbeTimeout
			if r.rtt != nil {
				if d, ok := r.rtt(s.Name); ok && 4*d > timeout {
					timeout = 4 * d
				}
			}
			out = append(out, probeTarget{dc: dcName, name: s.Name, addr: s.Addr, timeout: timeout})
		}
	}
	return out
}

// probe pings one server and keeps the result as evidence.
func (r *Router) probe(ctx context.Context, p Prober, pt probeTarget) {
	started := r.cfg.Now()
	pctx, cancel := context.WithTimeout(ctx, pt.timeout)
	_, err := p.Ping(pctx, structs.Datacenter(pt.dc), pt.addr)
	cancel()
	if r.probeDone(ctx, pt, started, err) {
		// The session may be stuck behind retransmissions backed off
		// through a cut; a new one works as soon as the path does.
		p.CloseSession(pt.addr)
	}
}

// probeDone keeps a probe's result and tells whether the server's pooled
// sessions should be closed: the probe failed and nothing has answered
// since it began (a probe that timed out across a heal must not close the
// fresh session a newer probe or call opened).
func (r *Router) probeDone(ctx context.Context, pt probeTarget, started time.Time, err error) (closeSessions bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dc := r.dcs[pt.dc]
	if dc == nil {
		return false
	}
	answeredSince := false
	for _, s := range dc.servers {
		if s.Name == pt.name {
			if s.probing > 0 {
				s.probing--
			}
			answeredSince = s.lastSuccess.After(started)
		}
	}
	if ctx.Err() != nil {
		return false // shutting down: the failure says nothing of the server
	}
	if err != nil {
		r.logger.Debug("probe failed", "datacenter", pt.dc, "server", pt.addr, "error", err)
	}
	r.evidenceLocked(pt.dc, dc, pt.addr, started, r.cfg.Now(), err)
	return err != nil && !answeredSince
}
