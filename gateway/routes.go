package gateway

import (
	"cmp"
	"context"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"
)

const (
	// downAfter consecutive failures (probes or dials) mark a remote
	// gateway down.
	downAfter = 2
	// forgetAfter consecutive failures make a learned (not configured)
	// gateway forgotten; an advert that lists it again brings it back.
	forgetAfter = 30
	// directWithin is how many probe intervals a probe answer counts as
	// direct reach in this gateway's advert.
	directWithin = 3
	// ewmaWeight is the weight of a new RTT sample.
	ewmaWeight = 0.3
	// maxProbeTimeout bounds a probe whatever the interval.
	maxProbeTimeout = time.Second
	// maxFromGateways bounds the gateways a probe request names (64
	// addresses of ≤ 50 bytes fit MaxHeaderLen).
	maxFromGateways = 64
	// maxPeers bounds the remote gateways a table keeps (adverts come
	// from the network).
	maxPeers = 1024
	// maxUnanswered bounds the learned gateways that never answered a
	// probe: addresses anyone may advertise, so they get a small quota,
	// are evicted first when the table is full, and are probed less and
	// less often (maxProbeBackoff).
	maxUnanswered = 64
	// maxProbeBackoff bounds the wait between probes of a learned
	// gateway that never answered.
	maxProbeBackoff = 30 * time.Second
	// Bounds on what an advert from the network may say.
	maxAdvertDirect   = 256              // datacenters in Direct
	maxReachGateways  = 16               // gateways per Reach
	maxAdvertRTT      = 60 * time.Second // a Reach's RTT is clamped to [0, this]
	maxAdvertGateways = maxFromGateways  // gateways of the advertising DC
)

// peer is what the table knows of one remote gateway.
type peer struct {
	addr string
	// dc is the datacenter it answered a probe as; "" until then.
	// Adverts never set it.
	dc         string
	configured bool
	// vouched is a datacenter the address was vouched for as a gateway
	// of: listed in the Gateways of an answer (probe or info) of that
	// datacenter, or the own address of a gateway of that datacenter
	// that probed this one. A learned peer is accepted as a gateway of
	// the datacenter it answers as only if vouched for it, or if its own
	// answer lists it.
	vouched string
	rtt     time.Duration // EWMA of probe round trips
	lastOK  time.Time
	fails   int       // consecutive failures
	next    time.Time // not probed before (backoff of never-answered learned peers)
	advert  *Advert   // its latest advert
}

func (p *peer) alive() bool { return !p.lastOK.IsZero() && p.fails < downAfter }

// table is a gateway's routing table: the remote gateways it knows and
// their health. It is safe for concurrent use.
type table struct {
	dc       string
	interval time.Duration
	logger   *slog.Logger
	// onDown, when set, is called (without mu held) when a gateway that
	// was up is marked down.
	onDown func(addr string)

	// mu guards the fields below.
	mu    sync.Mutex
	self  string
	peers map[string]*peer
	// unanswered counts the learned peers that never answered.
	unanswered int
	// fullLogged: the table-full warning was logged since the last add.
	fullLogged bool
}

// candidate is one next hop for a datacenter.
type candidate struct {
	addr    string
	via     string // "" direct, else the transit datacenter
	cost    time.Duration
	suspect bool
}

func newTable(dc string, interval time.Duration, configured []string) *table {
	t := &table{dc: dc, interval: interval, peers: make(map[string]*peer), logger: slog.New(slog.DiscardHandler)}
	for _, a := range configured {
		t.peers[a] = &peer{addr: a, configured: true}
	}
	return t
}

func (t *table) setSelf(addr string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.self = addr
	t.deleteLocked(addr)
}

// addPeerLocked adds a gateway said to be of datacenter dc ("" unknown)
// unless it is this one, said to be of this datacenter, or already
// known; vouched records dc as vouched for (see peer.vouched). A learned
// address that would pass maxUnanswered, or a full table without a
// never-answered peer to evict, is dropped.
func (t *table) addPeerLocked(addr, dc string, vouched bool) {
	if addr == "" || addr == t.self || dc == t.dc {
		return
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return
	}
	if p, ok := t.peers[addr]; ok {
		if vouched && dc != "" {
			p.vouched = dc
		}
		return
	}
	if t.unanswered >= maxUnanswered || (len(t.peers) >= maxPeers && !t.evictUnansweredLocked()) {
		if !t.fullLogged {
			t.fullLogged = true
			t.logger.Warn("gateway table full: not adding learned gateways",
				"peers", len(t.peers), "never_answered", t.unanswered)
		}
		return
	}
	t.fullLogged = false
	p := &peer{addr: addr}
	if vouched {
		p.vouched = dc
	}
	t.peers[addr] = p
	t.unanswered++
}

// evictUnansweredLocked forgets one learned peer that never answered;
// false when there is none.
func (t *table) evictUnansweredLocked() bool {
	for a, p := range t.peers {
		if !p.configured && p.lastOK.IsZero() {
			t.deleteLocked(a)
			return true
		}
	}
	return false
}

func (t *table) deleteLocked(addr string) {
	p, ok := t.peers[addr]
	if !ok {
		return
	}
	if !p.configured && p.lastOK.IsZero() {
		t.unanswered--
	}
	delete(t.peers, addr)
}

// addPeer adds the gateway a local server named for a join (Next), which
// answered info as dc.
func (t *table) addPeer(addr, dc string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.addPeerLocked(addr, dc, true)
}

// learn adds the gateways an answer of a gateway of a.DC names: those of
// a.DC (vouched for: a gateway of a.DC said so) and those it reaches
// directly (to be probed; what they are is what they answer).
func (t *table) learn(a *Advert) {
	if a == nil || a.DC == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.learnLocked(sanitize(a))
}

func (t *table) learnLocked(a *Advert) {
	for _, g := range a.Gateways {
		t.addPeerLocked(g, a.DC, true)
	}
	for _, r := range a.Direct {
		if r.DC == "" {
			continue
		}
		for _, g := range r.Gateways {
			t.addPeerLocked(g, r.DC, false)
		}
	}
}

// learnProber takes from an inbound probe's advert only the prober's own
// addresses: those whose host is ip, the connection's remote IP. The
// rest of what a prober says is not trusted (anyone can connect); the
// gateways it names are learned from its answer when probed back.
func (t *table) learnProber(a *Advert, ip net.IP) {
	if a == nil || a.DC == "" || ip == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, g := range a.Gateways[:min(len(a.Gateways), maxAdvertGateways)] {
		host, _, err := net.SplitHostPort(g)
		if err != nil || !net.ParseIP(host).Equal(ip) {
			continue
		}
		t.addPeerLocked(g, a.DC, true)
	}
}

// sanitize bounds an advert from the network: list lengths and RTTs.
func sanitize(a *Advert) *Advert {
	out := &Advert{DC: a.DC, Gateways: a.Gateways[:min(len(a.Gateways), maxAdvertGateways)]}
	for _, r := range a.Direct[:min(len(a.Direct), maxAdvertDirect)] {
		r.Gateways = r.Gateways[:min(len(r.Gateways), maxReachGateways)]
		r.RTT = min(max(r.RTT, 0), maxAdvertRTT)
		out.Direct = append(out.Direct, r)
	}
	return out
}

// ok records a probe answer.
func (t *table) ok(addr string, rtt time.Duration, a *Advert) {
	t.mu.Lock()
	down := t.okLocked(addr, rtt, a)
	t.mu.Unlock()
	if down {
		t.wentDown(addr)
	}
}

// okLocked is ok with mu held; down reports that the answer (not
// vouched for) marked addr down.
func (t *table) okLocked(addr string, rtt time.Duration, a *Advert) (down bool) {
	p, found := t.peers[addr]
	if !found {
		return false
	}
	if a.DC == t.dc {
		// A gateway of this datacenter given as a peer: not a route.
		t.deleteLocked(addr)
		return false
	}
	a = sanitize(a)
	if !p.configured && p.vouched != a.DC && !slices.Contains(a.Gateways, addr) {
		// Learned, and nothing of a.DC says it is one of its gateways.
		t.logger.Debug("remote gateway not vouched for", "gateway", addr, "datacenter", a.DC)
		return t.failLocked(p)
	}
	if p.lastOK.IsZero() && !p.configured {
		t.unanswered--
	}
	if !p.alive() {
		t.logger.Info("remote gateway up", "gateway", addr, "datacenter", a.DC)
	}
	if p.lastOK.IsZero() || p.rtt == 0 {
		p.rtt = rtt
	} else {
		p.rtt = time.Duration((1-ewmaWeight)*float64(p.rtt) + ewmaWeight*float64(rtt))
	}
	p.lastOK = time.Now()
	p.fails = 0
	p.dc = a.DC
	p.advert = a
	t.learnLocked(a)
	return false
}

// suspect records a failure: a probe that failed or a dial of a
// candidate that did. downAfter of them in a row mark the gateway down.
func (t *table) suspect(addr string) {
	t.mu.Lock()
	p, found := t.peers[addr]
	down := found && t.failLocked(p)
	t.mu.Unlock()
	if down {
		t.wentDown(addr)
	}
}

// failLocked counts a failure of p. down reports that it marked p, up
// until now, down: the caller then calls wentDown once mu is unlocked.
func (t *table) failLocked(p *peer) (down bool) {
	p.fails++
	if p.fails == downAfter && !p.lastOK.IsZero() {
		t.logger.Warn("remote gateway down", "gateway", p.addr, "datacenter", p.dc)
		down = true
	}
	if !p.configured && p.fails >= forgetAfter {
		t.deleteLocked(p.addr)
		return down
	}
	if !p.configured && p.lastOK.IsZero() {
		// Never answered: probe it less and less often.
		p.next = time.Now().Add(min(t.interval<<min(p.fails, 20), maxProbeBackoff))
	}
	return down
}

// wentDown tells onDown that addr was marked down. Call without mu.
func (t *table) wentDown(addr string) {
	if t.onDown != nil {
		t.onDown(addr)
	}
}

// addrs lists the gateways to probe now.
func (t *table) addrs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	out := make([]string, 0, len(t.peers))
	for a, p := range t.peers {
		if !now.Before(p.next) {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

// direct is this gateway's direct reach for its advert: datacenters with
// a gateway that answered a probe within directWithin intervals.
func (t *table) direct() []Reach {
	t.mu.Lock()
	defer t.mu.Unlock()
	since := time.Now().Add(-directWithin * t.interval)
	byDC := map[string]*Reach{}
	var peers []*peer
	for _, p := range t.peers {
		if p.dc != "" && p.fails < downAfter && p.lastOK.After(since) {
			peers = append(peers, p)
		}
	}
	slices.SortFunc(peers, func(a, b *peer) int { return cmp.Or(cmp.Compare(a.rtt, b.rtt), cmp.Compare(a.addr, b.addr)) })
	for _, p := range peers {
		r := byDC[p.dc]
		if r == nil {
			r = &Reach{DC: p.dc, RTT: p.rtt}
			byDC[p.dc] = r
		}
		r.Gateways = append(r.Gateways, p.addr)
	}
	out := make([]Reach, 0, len(byDC))
	for _, r := range byDC {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Reach) int { return cmp.Compare(a.DC, b.DC) })
	return out
}

// route lists the next hops for datacenter dc in the order to try them:
// its own alive gateways by RTT, then (unless directOnly) alive gateways
// of a transit datacenter whose advert lists dc as direct, by RTT through
// the transit. Within each group, gateways with a recent failure come
// last.
func (t *table) route(dc string, directOnly bool) []candidate {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.routeLocked(dc, directOnly)
}

func (t *table) routeLocked(dc string, directOnly bool) []candidate {
	var direct, via []candidate
	for _, p := range t.peers {
		if !p.alive() || p.dc == "" {
			continue
		}
		if p.dc == dc {
			direct = append(direct, candidate{addr: p.addr, cost: p.rtt, suspect: p.fails > 0})
			continue
		}
		if p.advert == nil || directOnly {
			continue
		}
		for _, r := range p.advert.Direct {
			if r.DC == dc {
				via = append(via, candidate{addr: p.addr, via: p.dc, cost: p.rtt + r.RTT, suspect: p.fails > 0})
				break
			}
		}
	}
	order := func(a, b candidate) int {
		if a.suspect != b.suspect {
			if a.suspect {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(a.cost, b.cost), cmp.Compare(a.addr, b.addr))
	}
	slices.SortFunc(direct, order)
	slices.SortFunc(via, order)
	return append(direct, via...)
}

// routes is the table for operators: a route per known datacenter, the
// preferred one (direct when there is a direct gateway), with its
// next-hop gateways in order. New connections fall back further (to
// transit gateways) when all of those fail.
func (t *table) routes() []Route {
	t.mu.Lock()
	defer t.mu.Unlock()
	dcs := map[string]bool{}
	for _, p := range t.peers {
		if p.dc != "" {
			dcs[p.dc] = true
		}
		if p.advert != nil && p.alive() {
			for _, r := range p.advert.Direct {
				dcs[r.DC] = true
			}
		}
	}
	delete(dcs, t.dc)
	delete(dcs, "")
	out := make([]Route, 0, len(dcs))
	for dc := range dcs {
		r := Route{DC: dc}
		for i, c := range t.routeLocked(dc, false) {
			if i == 0 {
				r.Via, r.RTT = c.via, c.cost
			}
			// The route shown is the preferred one: its gateways, not
			// the fallbacks through other datacenters.
			if c.via == r.Via && !slices.Contains(r.Gateways, c.addr) {
				r.Gateways = append(r.Gateways, c.addr)
			}
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Route) int { return cmp.Compare(a.DC, b.DC) })
	return out
}

// probeLoop probes every known remote gateway each interval.
func (g *Gateway) probeLoop() {
	defer g.wg.Done()
	tick := time.NewTicker(g.cfg.ProbeInterval)
	defer tick.Stop()
	for {
		g.probeRound()
		select {
		case <-tick.C:
		case <-g.ctx.Done():
			return
		}
	}
}

// probeRound probes every known remote gateway concurrently, each probe
// bounded by the interval (at most maxProbeTimeout), and returns when all
// have ended.
func (g *Gateway) probeRound() {
	timeout := min(g.cfg.ProbeInterval, maxProbeTimeout)
	// A request carries only this datacenter's gateways (the receiver
	// learns them as peers; routes come from the answers' adverts), so
	// the header stays within MaxHeaderLen however many datacenters there
	// are.
	full := g.advert()
	adv := &Advert{DC: full.DC, Gateways: full.Gateways[:min(len(full.Gateways), maxFromGateways)]}
	var wg sync.WaitGroup
	for _, addr := range g.table.addrs() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rtt, a, err := g.probe(addr, adv, timeout)
			if err != nil {
				if g.ctx.Err() == nil {
					g.table.suspect(addr)
					g.logger.Debug("probe failed", "gateway", addr, "error", err)
				}
				return
			}
			g.table.ok(addr, rtt, a)
		}()
	}
	wg.Wait()
}

// probe exchanges adverts with one gateway. The RTT is the exchange's,
// after the connection is up.
func (g *Gateway) probe(addr string, adv *Advert, timeout time.Duration) (time.Duration, *Advert, error) {
	ctx, cancel := context.WithTimeout(g.ctx, timeout)
	defer cancel()
	c, err := g.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, nil, err
	}
	if !g.track(c) {
		c.Close()
		return 0, nil, net.ErrClosed
	}
	defer g.untrack(c)
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	start := time.Now()
	if err := WriteHeader(c, &Header{Kind: KindProbe, From: *adv}); err != nil {
		return 0, nil, err
	}
	st, err := ReadStatus(c)
	if err != nil {
		return 0, nil, err
	}
	rtt := time.Since(start)
	if !st.OK || st.Advert == nil || st.Advert.DC == "" {
		return 0, nil, errNoAdvert(addr, st.Error)
	}
	return rtt, st.Advert, nil
}
