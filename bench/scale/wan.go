package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"consulate/federation"
	"consulate/gossip"
	"consulate/structs"
	"consulate/wan"
)

// wanOpts configures a WAN run.
type wanOpts struct {
	DCs          int
	Servers      int
	Base         net.IP
	Port         int
	Steady       time.Duration
	PhaseTimeout time.Duration
	Tuning       gossip.Tuning
	Soak         time.Duration
	Loss         float64
	Log          func(format string, args ...any)
}

// wanResult is what a WAN run measured.
type wanResult struct {
	DCs                 int           `json:"dcs"`
	ServersPerDC        int           `json:"servers_per_dc"`
	StartTime           time.Duration `json:"start_ns"`
	JoinPhase           time.Duration `json:"join_phase_ns"`
	ConvergeAfterJoins  time.Duration `json:"converge_after_last_join_ns"`
	Steady              window        `json:"steady"`
	NewDCKnownFirst     time.Duration `json:"new_dc_known_first_ns"`
	NewDCKnownAll       time.Duration `json:"new_dc_known_by_all_ns"`
	NewDCAliveAll       time.Duration `json:"new_dc_all_servers_alive_everywhere_ns"`
	DeadDCFirst         time.Duration `json:"dead_dc_detected_first_ns"`
	DeadDCAll           time.Duration `json:"dead_dc_detected_everywhere_ns"`
	FalseFailures       int           `json:"false_failures"`
	Suspicions          uint64        `json:"suspicions"`
	SoakSeconds         float64       `json:"soak_seconds,omitempty"`
	Loss                float64       `json:"loss,omitempty"`
	DroppedPackets      uint64        `json:"dropped_packets,omitempty"`
	FalseFailureMembers []string      `json:"false_failure_members,omitempty"`
	RouterFlaps         int           `json:"router_flaps"`
	// Timers are the failure-detection timers every server's memberlist
	// runs with.
	Timers timers `json:"timers"`
}

// server is one WAN pool member with the federation router the agent
// would feed from it.
type server struct {
	*member
	dc     string
	wp     *wan.Pool
	router *federation.Router
}

// noCaller is the router's Caller: the bench sends no RPCs, and probing
// is off.
type noCaller struct{}

var errNoRPC = errors.New("scale: no RPC in the bench")

func (noCaller) Call(context.Context, structs.Datacenter, structs.ServerAddr, structs.Method, any, any) error {
	return errNoRPC
}

func (noCaller) Stream(context.Context, structs.Datacenter, structs.ServerAddr, structs.Method, any, func() any, func(any) error) error {
	return errNoRPC
}

type wanRun struct {
	opts wanOpts
	loss atomicFloat
	ss   []*server
}

// wanConfig is server s of datacenter dc's pool configuration before the
// bench wires its addresses and transport: wan.DefaultConfig, o.Tuning,
// then wan.TuneServer, in the order agent/gossip.go startWAN applies them.
func wanConfig(o wanOpts, dc, s int) *wan.Config {
	wc := wan.DefaultConfig()
	o.Tuning.Apply(wc.Gossip.Memberlist)
	wan.TuneServer(wc.Gossip.Memberlist)
	wc.NodeName = fmt.Sprintf("s%d", s)
	wc.Datacenter = fmt.Sprintf("dc%d", dc)
	wc.NodeID = fmt.Sprintf("00000000-0000-4000-8000-%06d%06d", dc, s)
	return wc
}

// start starts server s (1-based) of datacenter dc (1-based) on
// Base.dc.s: a WAN pool configured as agent/gossip.go startWAN does, and
// a router fed from its events as the agent's wanEventLoop does.
func (r *wanRun) start(dc, s int) (*server, error) {
	o := r.opts
	wc := wanConfig(o, dc, s)
	g := wc.Gossip
	b := o.Base.To4()
	ip := net.IPv4(b[0], b[1], byte(dc), byte(s)).String()
	sv := &server{member: &member{name: wan.MemberName(wc.NodeName, wc.Datacenter)}, dc: wc.Datacenter}
	sv.wire(g, ip, o.Port, &r.loss)
	rc := federation.DefaultConfig()
	rc.LocalDC = wc.Datacenter
	rc.ProbeInterval = 0
	router, err := federation.New(rc, noCaller{}, nil)
	if err != nil {
		return nil, err
	}
	sv.router = router
	p, err := wan.New(wc)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", sv.name, err)
	}
	sv.pool, sv.wp = p.Pool, p
	router.UpdateServer(federation.Server{Name: p.LocalName(), Datacenter: wc.Datacenter,
		Addr: structs.ServerAddr(net.JoinHostPort(ip, "8300")), Status: structs.StatusAlive})
	sv.drain(func(ev gossip.Event) {
		if ev.Type != gossip.User {
			router.SyncMembers(p.Members(), p.LocalName())
		}
	})
	return sv, nil
}

func (r *wanRun) members() []*member {
	out := make([]*member, 0, len(r.ss))
	for _, s := range r.ss {
		if s != nil {
			out = append(out, s.member)
		}
	}
	return out
}

// dcHealth is the router's view of dc at s.
func dcHealth(s *server, dc string) (federation.DCHealth, bool) {
	for _, h := range s.router.Health() {
		if h.Datacenter == dc {
			return h, true
		}
	}
	return federation.DCHealth{}, false
}

// everyRouter reports whether cond holds for dc at every live server.
func (r *wanRun) everyRouter(dc string, cond func(federation.DCHealth, bool) bool) bool {
	for _, s := range r.ss {
		if s.dead {
			continue
		}
		if !cond(dcHealth(s, dc)) {
			return false
		}
	}
	return true
}

func runWAN(ctx context.Context, o wanOpts, sink *suspectSink) (res wanResult, err error) {
	r := &wanRun{opts: o}
	defer func() { shutdownAll(r.members()) }()
	res.DCs, res.ServersPerDC = o.DCs, o.Servers
	res.Timers = timersOf(wanConfig(o, 1, 1).Gossip.Memberlist, o.DCs*o.Servers)
	o.Log("WAN: timers: %s", res.Timers)
	n := o.DCs * o.Servers
	r.ss = make([]*server, n)
	t0 := time.Now()
	if err := parallel(n, 16, func(i int) error {
		s, err := r.start(i/o.Servers+1, i%o.Servers+1)
		r.ss[i] = s
		return err
	}); err != nil {
		return res, err
	}
	res.StartTime = time.Since(t0)

	// Each datacenter's first server joins dc1's first (an operator's
	// `join -wan`); the others join their own first server (the LAN
	// flood-join).
	first := r.ss[0].addr
	joinStart := time.Now()
	if err := parallel(n-1, 16, func(j int) error {
		i := j + 1
		s := r.ss[i]
		var err error
		if i%o.Servers == 0 {
			_, err = s.pool.Join([]string{first}, true)
		} else {
			_, err = s.pool.Join([]string{r.ss[i-i%o.Servers].addr}, true)
		}
		if err != nil {
			return fmt.Errorf("%s join: %w", s.name, err)
		}
		return nil
	}); err != nil {
		return res, err
	}
	joinEnd := time.Now()
	res.JoinPhase = joinEnd.Sub(joinStart)
	allDCs := func() bool {
		for d := 1; d <= o.DCs; d++ {
			if !r.everyRouter(fmt.Sprintf("dc%d", d), func(h federation.DCHealth, ok bool) bool {
				return ok && h.Alive == o.Servers
			}) {
				return false
			}
		}
		return true
	}
	conv, err := waitUntil(ctx, o.PhaseTimeout, 50*time.Millisecond, "WAN convergence", allDCs)
	if err != nil {
		return res, err
	}
	res.ConvergeAfterJoins = conv.Sub(joinEnd)
	o.Log("WAN: %d×%d servers: every router knew every DC alive %s after the last join (joins %s)",
		o.DCs, o.Servers, res.ConvergeAfterJoins.Round(time.Millisecond), res.JoinPhase.Round(time.Millisecond))

	if o.Soak > 0 {
		return r.soak(ctx, res, sink)
	}
	res.Steady = measureWindow(ctx, r.members(), o.Steady)
	o.Log("WAN: steady %.0fs: %.0f B/s per server", res.Steady.Seconds, res.Steady.BytesPerSecMean)

	// A new datacenter: its servers each join dc1's first server.
	newDC := o.DCs + 1
	newName := fmt.Sprintf("dc%d", newDC)
	fresh := make([]*server, o.Servers)
	if err := parallel(o.Servers, o.Servers, func(i int) error {
		s, err := r.start(newDC, i+1)
		fresh[i] = s
		return err
	}); err != nil {
		shutdownAll(membersOf(fresh))
		return res, err
	}
	r.ss = append(r.ss, fresh...)
	suspects0, fails0 := sink.suspect.Load(), time.Now()
	js := time.Now()
	if err := parallel(o.Servers, o.Servers, func(i int) error {
		_, err := fresh[i].wp.JoinFederation([]string{first})
		return err
	}); err != nil {
		return res, fmt.Errorf("new DC join: %w", err)
	}
	knownAll, err := waitUntil(ctx, o.PhaseTimeout, 10*time.Millisecond, "new DC known", func() bool {
		return r.everyRouter(newName, func(h federation.DCHealth, ok bool) bool { return ok && h.Alive > 0 })
	})
	if err != nil {
		return res, err
	}
	res.NewDCKnownAll = knownAll.Sub(js)
	alive, err := waitUntil(ctx, o.PhaseTimeout, 10*time.Millisecond, "new DC alive everywhere", func() bool {
		return r.everyRouter(newName, func(h federation.DCHealth, ok bool) bool { return ok && h.Alive == o.Servers })
	})
	if err != nil {
		return res, err
	}
	res.NewDCAliveAll = alive.Sub(js)
	res.NewDCKnownFirst = firstSeen(r.ss, js, func(s *server) (time.Time, bool) {
		var earliest time.Time
		for _, f := range fresh {
			if t, ok := s.w.joined(f.name); ok && (earliest.IsZero() || t.Before(earliest)) {
				earliest = t
			}
		}
		return earliest, !earliest.IsZero()
	}, fresh)
	o.Log("WAN: new %s known by every server after %s, its %d servers alive everywhere after %s",
		newName, res.NewDCKnownAll.Round(time.Millisecond), o.Servers, res.NewDCAliveAll.Round(time.Millisecond))

	// A dead datacenter: every server of the new DC goes dark.
	killAt := time.Now()
	for _, f := range fresh {
		f.kill()
	}
	deadAll, err := waitUntil(ctx, o.PhaseTimeout, 20*time.Millisecond, "dead DC detected", func() bool {
		return r.everyRouter(newName, func(h federation.DCHealth, ok bool) bool { return !ok || h.Alive == 0 })
	})
	if err != nil {
		return res, err
	}
	res.DeadDCAll = deadAll.Sub(killAt)
	res.DeadDCFirst = firstSeen(r.ss, killAt, func(s *server) (time.Time, bool) {
		var latest time.Time
		for _, f := range fresh {
			t, ok := s.w.failedSince(f.name, killAt)
			if !ok {
				return time.Time{}, false
			}
			latest = maxTime(latest, t)
		}
		return latest, true
	}, fresh)
	res.Suspicions = sink.suspect.Load() - suspects0
	res.FalseFailures, res.FalseFailureMembers = falseFailures(r.members(), membersOf(fresh), fails0)
	o.Log("WAN: dead %s seen with no alive server by every router after %s (first server %s)",
		newName, res.DeadDCAll.Round(time.Millisecond), res.DeadDCFirst.Round(time.Millisecond))
	return res, nil
}

// firstSeen is the earliest time, minus from, at which a live server
// outside skip saw what at reports.
func firstSeen(ss []*server, from time.Time, at func(*server) (time.Time, bool), skip []*server) time.Duration {
	var first time.Time
	for _, s := range ss {
		if s.dead || slices.Contains(skip, s) {
			continue
		}
		if t, ok := at(s); ok && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	if first.IsZero() {
		return 0
	}
	return first.Sub(from)
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func membersOf(ss []*server) []*member {
	var out []*member
	for _, s := range ss {
		if s != nil {
			out = append(out, s.member)
		}
	}
	return out
}

func (r *wanRun) soak(ctx context.Context, res wanResult, sink *suspectSink) (wanResult, error) {
	o := r.opts
	ms := r.members()
	var dropped0 uint64
	for _, m := range ms {
		dropped0 += m.stats.dropped.Load()
	}
	suspects0 := sink.suspect.Load()
	r.loss.Store(o.Loss)
	start := time.Now()
	o.Log("WAN soak: %d×%d servers, %.2f%% loss, %s", o.DCs, o.Servers, 100*o.Loss, o.Soak)
	res.Steady = measureWindow(ctx, ms, o.Soak)
	r.loss.Store(0)
	res.SoakSeconds = time.Since(start).Seconds()
	res.Loss = o.Loss
	res.Suspicions = sink.suspect.Load() - suspects0
	for _, m := range ms {
		res.DroppedPackets += m.stats.dropped.Load()
	}
	res.DroppedPackets -= dropped0
	res.FalseFailures, res.FalseFailureMembers = falseFailures(ms, nil, start)
	// A failure the soak caused that healed shows as a flap in the routers.
	for _, s := range r.ss {
		for _, h := range s.router.Health() {
			res.RouterFlaps += h.Flaps
		}
	}
	return res, nil
}
