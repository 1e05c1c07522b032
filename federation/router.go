package federation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"consulate/structs"
)

// Caller performs one RPC against one server address. rpcmux.Pool
// implements it. It must be safe for concurrent use and honour ctx.
type Caller interface {
	Call(ctx context.Context, addr, method string, args, reply any) error
}

// RTTFunc estimates the round-trip time from this server to the named WAN
// member. ok is false when no coordinate is known yet.
type RTTFunc func(wanName string) (rtt time.Duration, ok bool)

// Server is one server of some datacenter, as the WAN pool reports it.
type Server struct {
	// Name is the WAN member name, NODE.DC.
	Name       string
	Datacenter string
	// Addr is the server RPC address, host:port.
	Addr   string
	Status structs.MemberStatus
}

// Config configures a Router.
type Config struct {
	LocalDC string
	// AttemptTimeout bounds one attempt of a non-blocking call to a remote
	// server, so a stopped datacenter fails fast instead of hanging.
	AttemptTimeout time.Duration
	// BlockingGrace is added to a blocking query's wait to bound its attempt.
	BlockingGrace time.Duration
	// Quarantine is how long a server that failed a call is tried last.
	Quarantine time.Duration
	// FlapWindow is how far back flaps are counted.
	FlapWindow time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
}

// DefaultConfig returns a Config with the timings used in production.
func DefaultConfig() Config {
	return Config{
		LocalDC:        "dc1",
		AttemptTimeout: 1500 * time.Millisecond,
		BlockingGrace:  5 * time.Second,
		Quarantine:     10 * time.Second,
		FlapWindow:     time.Hour,
	}
}

// Validate reports a config that cannot work.
func (c *Config) Validate() error {
	if c.LocalDC == "" {
		return errors.New("federation: LocalDC is required")
	}
	if c.AttemptTimeout <= 0 {
		return errors.New("federation: AttemptTimeout must be positive")
	}
	return nil
}

type serverState struct {
	Server
	lastFailure time.Time
	lastSuccess time.Time
	// flaps holds the times this server came back alive after failing.
	flaps []time.Time
}

type dcState struct {
	servers   map[string]*serverState
	requests  uint64
	errors    uint64
	lastReach time.Time
	lastError string
}

// Router maps datacenters to servers and forwards calls.
type Router struct {
	cfg    Config
	caller Caller
	rtt    RTTFunc
	logger *slog.Logger

	// mu guards dcs and everything under it.
	mu  sync.Mutex
	dcs map[string]*dcState
}

// New builds a Router. rtt may be nil (no ordering by distance).
func New(cfg Config, caller Caller, rtt RTTFunc) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.FlapWindow == 0 {
		cfg.FlapWindow = time.Hour
	}
	return &Router{
		cfg: cfg, caller: caller, rtt: rtt,
		logger: cfg.Logger.With("component", "federation"),
		dcs:    make(map[string]*dcState),
	}, nil
}

// UpdateServer records a server's current state, as the WAN pool reports
// it. A server that has left is forgotten; a datacenter left with no
// servers is dropped.
func (r *Router) UpdateServer(s Server) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dc := r.dcs[s.Datacenter]
	if s.Status == structs.StatusLeft || s.Status == structs.StatusNone {
		if dc == nil {
			return
		}
		delete(dc.servers, s.Name)
		if len(dc.servers) == 0 {
			delete(r.dcs, s.Datacenter)
		}
		return
	}
	if dc == nil {
		dc = &dcState{servers: make(map[string]*serverState)}
		r.dcs[s.Datacenter] = dc
	}
	st := dc.servers[s.Name]
	if st == nil {
		dc.servers[s.Name] = &serverState{Server: s}
		return
	}
	if st.Status == structs.StatusFailed && s.Status == structs.StatusAlive {
		now := r.cfg.Now()
		st.flaps = append(pruneBefore(st.flaps, now.Add(-r.cfg.FlapWindow)), now)
	}
	st.Server = s
}

// RemoveServer forgets a server at once (reaped or pruned).
func (r *Router) RemoveServer(dcName, name string) {
	r.UpdateServer(Server{Name: name, Datacenter: dcName, Status: structs.StatusLeft})
}

func pruneBefore(ts []time.Time, cutoff time.Time) []time.Time {
	out := ts[:0]
	for _, t := range ts {
		if t.After(cutoff) {
			out = append(out, t)
		}
	}
	return out
}

// KnownDatacenters lists every datacenter with at least one server that
// has not left, the local one included, sorted by median RTT.
func (r *Router) KnownDatacenters() []string { return r.Datacenters() }

// Datacenters lists known datacenters sorted by median RTT from this
// server (the local one first, at zero), ties by name.
func (r *Router) Datacenters() []string {
	r.mu.Lock()
	names := make([]string, 0, len(r.dcs)+1)
	seenLocal := false
	for name := range r.dcs {
		names = append(names, name)
		seenLocal = seenLocal || name == r.cfg.LocalDC
	}
	medians := make(map[string]time.Duration, len(names))
	for _, name := range names {
		medians[name] = r.medianRTTLocked(name)
	}
	r.mu.Unlock()
	if !seenLocal {
		names = append(names, r.cfg.LocalDC)
	}
	medians[r.cfg.LocalDC] = 0
	sort.Slice(names, func(i, j int) bool {
		mi, mj := medians[names[i]], medians[names[j]]
		if mi != mj {
			return mi < mj
		}
		return names[i] < names[j]
	})
	return names
}

// unknownRTT sorts datacenters and servers without a coordinate last.
const unknownRTT = time.Duration(1<<62 - 1)

func (r *Router) medianRTTLocked(dcName string) time.Duration {
	if dcName == r.cfg.LocalDC {
		return 0
	}
	dc := r.dcs[dcName]
	if dc == nil || r.rtt == nil {
		return unknownRTT
	}
	var rtts []time.Duration
	for _, s := range dc.servers {
		if s.Status != structs.StatusAlive {
			continue
		}
		if d, ok := r.rtt(s.Name); ok {
			rtts = append(rtts, d)
		}
	}
	if len(rtts) == 0 {
		return unknownRTT
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	return rtts[len(rtts)/2]
}

// MedianRTT is the median estimated RTT to a datacenter's alive servers.
func (r *Router) MedianRTT(dcName string) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.medianRTTLocked(dcName)
	return d, d != unknownRTT
}

// candidates returns the addresses to try for dc, best first: alive
// servers not recently failed, ordered by RTT (random among equals), then
// recently failed alive ones. Failed-in-gossip servers are never tried.
func (r *Router) candidates(dcName string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dc := r.dcs[dcName]
	if dc == nil {
		known := make([]string, 0, len(r.dcs)+1)
		for name := range r.dcs {
			known = append(known, name)
		}
		if r.dcs[r.cfg.LocalDC] == nil {
			known = append(known, r.cfg.LocalDC)
		}
		sort.Strings(known)
		return nil, &structs.ErrUnknownDC{DC: dcName, Known: known}
	}
	now := r.cfg.Now()
	type cand struct {
		addr        string
		quarantined bool
		rtt         time.Duration
		tiebreak    uint32
	}
	var cs []cand
	for _, s := range dc.servers {
		if s.Status != structs.StatusAlive {
			continue
		}
		c := cand{addr: s.Addr, rtt: unknownRTT, tiebreak: rand.Uint32()}
		c.quarantined = !s.lastFailure.IsZero() && now.Sub(s.lastFailure) < r.cfg.Quarantine &&
			s.lastFailure.After(s.lastSuccess)
		if r.rtt != nil {
			if d, ok := r.rtt(s.Name); ok {
				c.rtt = d
			}
		}
		cs = append(cs, c)
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("%w %q: all %d servers failed", structs.ErrNoDCPath, dcName, len(dc.servers))
	}
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.quarantined != b.quarantined {
			return !a.quarantined
		}
		if a.rtt != b.rtt {
			return a.rtt < b.rtt
		}
		return a.tiebreak < b.tiebreak
	})
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.addr
	}
	return out, nil
}

// ForwardDC sends a call to a server of another datacenter, trying its
// servers best first. Only transport failures move on to the next server;
// an answer that is an error (not found, bad request…) is returned as is.
// A call that is not a blocking query gets AttemptTimeout in all, so a
// datacenter that stopped answering fails fast instead of hanging; a
// blocking query gets its wait plus BlockingGrace per attempt.
func (r *Router) ForwardDC(ctx context.Context, dcName, method string, args, reply any) error {
	addrs, err := r.candidates(dcName)
	if err != nil {
		r.record(dcName, "", err)
		return err
	}
	blocking := false
	attempt := r.cfg.AttemptTimeout
	if q, ok := args.(structs.QueryOptionsGetter); ok {
		if opts := q.GetQueryOptions(); opts.MinQueryIndex > 0 {
			wait := opts.MaxQueryTime
			if wait <= 0 {
				wait = 5 * time.Minute
			}
			blocking = true
			attempt = wait + wait/16 + r.cfg.BlockingGrace
		}
	}
	if !blocking {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.cfg.AttemptTimeout)
		defer cancel()
	}
	var lastErr error
	for _, addr := range addrs {
		if ctx.Err() != nil {
			break
		}
		actx, cancel := context.WithTimeout(ctx, attempt)
		err := r.caller.Call(actx, addr, method, args, reply)
		cancel()
		var answered *structs.RemoteError
		if err == nil || (errors.As(err, &answered) && !errors.Is(err, structs.ErrNoLeader)) {
			r.record(dcName, addr, nil)
			return err
		}
		lastErr = err
		r.record(dcName, addr, err)
		r.logger.Warn("cross-datacenter call failed", "datacenter", dcName, "server", addr, "method", method, "error", err)
		if !retryable(args, err) {
			break
		}
	}
	if lastErr == nil {
		lastErr = ctx.Err()
	}
	return fmt.Errorf("%w %q: %v", structs.ErrNoDCPath, dcName, lastErr)
}

// ForwardLeader sends a call to the local leader at addr.
func (r *Router) ForwardLeader(ctx context.Context, addr, method string, args, reply any) error {
	return r.caller.Call(ctx, addr, method, args, reply)
}

// retryable tells whether a failed call may go to another server: a read
// whenever the server did not answer; a write only when it surely never
// arrived (or the server had no leader to apply it), so no write is
// applied twice.
func retryable(args any, err error) bool {
	if errors.Is(err, structs.ErrNoLeader) || errors.Is(err, structs.ErrUnreachable) {
		return true
	}
	var re *structs.RemoteError
	if errors.As(err, &re) {
		return false // the server answered
	}
	if info, ok := args.(structs.RPCInfo); ok && !info.IsRead() {
		return false
	}
	return true
}

func (r *Router) record(dcName, addr string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dc := r.dcs[dcName]
	if dc == nil {
		return
	}
	now := r.cfg.Now()
	dc.requests++
	if err != nil {
		dc.errors++
		dc.lastError = err.Error()
	} else {
		dc.lastReach = now
	}
	for _, s := range dc.servers {
		if s.Addr != addr {
			continue
		}
		if err != nil {
			s.lastFailure = now
		} else {
			s.lastSuccess = now
		}
	}
}
