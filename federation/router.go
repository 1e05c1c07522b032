package federation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/yamux"

	"consulate/structs"
)

// Caller performs one RPC against one server address, a server of
// datacenter dc (which picks the TLS config it is dialed with).
// rpcmux.Pool implements it. It must be safe for concurrent use and
// honour ctx.
type Caller interface {
	Call(ctx context.Context, dc structs.Datacenter, addr structs.ServerAddr, method structs.Method, args, reply any) error
	// Stream runs a streaming method (structs.IsStreamMethod): every
	// frame the server sends is decoded into a fresh newFrame() and
	// handed to recv, until the stream ends (see rpcmux.Pool.Stream).
	Stream(ctx context.Context, dc structs.Datacenter, addr structs.ServerAddr, method structs.Method,
		args any, newFrame func() any, recv func(frame any) error) error
}

// LeaderHinter is an optional interface of a Caller: LeaderHint returns
// the RPC address of dc's leader as its servers' latest answers named it
// ("" when unknown). rpcmux.Pool implements it. Calls the leader must run
// go to the hinted server first when it is a known, answering server of
// dc; a stale hint costs one forward, never a wrong answer.
type LeaderHinter interface {
	LeaderHint(dc structs.Datacenter) structs.ServerAddr
}

// wantsLeader reports whether a call must run on its datacenter's leader:
// a write, or a read that is not ?stale (default consistency is served by
// the leader, and ?consistent too). A stale read keeps the nearest
// server, which answers it from its own store.
func wantsLeader(args any) bool {
	if !structs.IsRead(args) {
		return true
	}
	q, ok := args.(structs.QueryOptionsGetter)
	if !ok {
		return false // a read without consistency options: any server
	}
	opts := q.GetQueryOptions()
	return opts == nil || opts.RequireConsistent || !opts.AllowStale
}

// leaderFirst moves hint to the front of addrs when it is among them, and
// reports whether it was.
func leaderFirst(addrs []structs.ServerAddr, hint structs.ServerAddr) bool {
	if hint == "" {
		return false
	}
	for i, a := range addrs {
		if a == hint {
			copy(addrs[1:i+1], addrs[:i])
			addrs[0] = hint
			return true
		}
	}
	return false
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
	Addr   structs.ServerAddr
	Status structs.MemberStatus
}

// ErrInvalidConfig is wrapped by every error Config.Validate returns, and
// so by New.
var ErrInvalidConfig = errors.New("federation: invalid config")

// Config configures a Router.
type Config struct {
	// LocalDC is this server's datacenter; required.
	LocalDC string
	// AttemptTimeout bounds one attempt of a non-blocking call to a remote
	// server, so a stopped datacenter fails fast instead of hanging.
	AttemptTimeout time.Duration
	// BlockingGrace is added to a blocking query's wait to bound its
	// attempt; 0 adds none.
	BlockingGrace time.Duration
	// Quarantine is how long a server whose last call or probe failed is
	// left out of the candidates when no newer probe says otherwise (the
	// prober, when it runs, refreshes that evidence far sooner); 0 never
	// leaves a server out for a failed call alone.
	Quarantine time.Duration
	// ProbeInterval is how often Run pings each server of another
	// datacenter that answers; DownProbeInterval how often it pings one
	// that does not, so a healed datacenter is used again within about
	// that long. ProbeTimeout bounds one probe (raised to four estimated
	// round trips on a slow WAN). ProbeInterval 0 turns probing off;
	// DownProbeInterval 0 (or above ProbeInterval) means ProbeInterval.
	ProbeInterval     time.Duration
	DownProbeInterval time.Duration
	ProbeTimeout      time.Duration
	// FlapWindow is how far back flaps are counted.
	FlapWindow time.Duration
	// Logger receives the router's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock for evidence and flaps; nil means time.Now.
	Now func() time.Time
	// GatewayRoutes asks a local gateway for its routing table, for the
	// Route and Gateways of each row of HealthWithLeaders; nil: the
	// server is not in gateway mode and reaches every datacenter
	// directly.
	GatewayRoutes GatewayRoutesFunc
}

// DefaultConfig returns a Config with the timings used in production.
func DefaultConfig() Config {
	return Config{
		LocalDC:        "dc1",
		AttemptTimeout: 1500 * time.Millisecond,
		BlockingGrace:  5 * time.Second,
		Quarantine:     10 * time.Second,
		FlapWindow:     time.Hour,

		ProbeInterval:     500 * time.Millisecond,
		DownProbeInterval: 200 * time.Millisecond,
		ProbeTimeout:      500 * time.Millisecond,
	}
}

// Validate reports a config that cannot work.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.LocalDC == "":
		return bad("LocalDC is required")
	case c.AttemptTimeout <= 0:
		return bad("AttemptTimeout must be positive")
	case c.BlockingGrace < 0 || c.Quarantine < 0:
		return bad("BlockingGrace and Quarantine must not be negative")
	case c.ProbeInterval < 0 || c.DownProbeInterval < 0 || c.ProbeTimeout < 0:
		return bad("probe intervals and timeout must not be negative")
	case c.ProbeInterval > 0 && c.ProbeTimeout == 0:
		return bad("ProbeTimeout must be positive when probing is on")
	case c.FlapWindow <= 0:
		return bad("FlapWindow must be positive")
	}
	return nil
}

type serverState struct {
	Server
	// statusAt is when gossip last changed Status.
	statusAt time.Time
	// lastFailure and lastSuccess are the newest evidence from calls and
	// probes: a failure counts from when its attempt started (the server
	// did not answer since then), a success from when it came back.
	lastFailure time.Time
	lastSuccess time.Time
	lastErr     string
	// flaps holds the times this server came back alive after failing.
	flaps []time.Time
	// probing counts probes in flight; lastProbe is when the newest began.
	probing   int
	lastProbe time.Time
}

// down tells whether the newest evidence says s does not answer: a failed
// call or probe (for Quarantine at most, unless probes renew it) or gossip
// marking it failed, with no answer since.
func (s *serverState) down(now time.Time, quarantine time.Duration) bool {
	if s.Status == structs.StatusFailed && !s.lastSuccess.After(s.statusAt) {
		return true
	}
	if s.lastFailure.IsZero() || !s.lastFailure.After(s.lastSuccess) {
		return false
	}
	if s.Status == structs.StatusAlive && s.statusAt.After(s.lastFailure) {
		return false // gossip saw it come back since
	}
	return now.Sub(s.lastFailure) < quarantine
}

type dcState struct {
	servers   map[string]*serverState
	requests  uint64
	errors    uint64
	lastReach time.Time
	lastError string
	// unreachable is whether every server was down when last looked at,
	// so that the change is logged once.
	unreachable bool
}

// Router maps datacenters to servers and forwards calls.
type Router struct {
	// uiLeaders shares leader asks among the UI's readers (uifeed.go).
	uiLeaders leaderAsks

	cfg    Config
	caller Caller
	hints  LeaderHinter // caller, when it gives leader hints; else nil
	rtt    RTTFunc
	logger *slog.Logger
	feed   *Feed // WAN member events and state index for the UI

	// mu guards dcs and everything under it.
	mu  sync.Mutex
	dcs map[string]*dcState
}

// New validates cfg and builds a Router. rtt may be nil (no ordering by
// distance).
func New(cfg Config, caller Caller, rtt RTTFunc) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if caller == nil {
		return nil, fmt.Errorf("%w: nil Caller", ErrInvalidConfig)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	hints, _ := caller.(LeaderHinter)
	return &Router{
		cfg: cfg, caller: caller, rtt: rtt, hints: hints,
		logger: cfg.Logger.With("component", "federation"),
		dcs:    make(map[string]*dcState),
		feed:   NewFeed(cfg.Now),
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
	now := r.cfg.Now()
	st := dc.servers[s.Name]
	if st == nil {
		dc.servers[s.Name] = &serverState{Server: s, statusAt: now}
		return
	}
	if st.Status == structs.StatusFailed && s.Status == structs.StatusAlive {
		st.flaps = append(pruneBefore(st.flaps, now.Add(-r.cfg.FlapWindow)), now)
	}
	if st.Status != s.Status {
		st.statusAt = now
	}
	st.Server = s
	r.noteReachLocked(s.Datacenter, dc, now)
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

// candidates returns the addresses to try for dc, best first: servers
// whose newest evidence says they answer, ordered by RTT (random among
// equals). When none does, the datacenter is known unreachable and the
// error says so at once, without a call.
func (r *Router) candidates(dcName string) ([]structs.ServerAddr, error) {
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
		addr     structs.ServerAddr
		rtt      time.Duration
		tiebreak uint32
	}
	var cs []cand
	for _, s := range dc.servers {
		if s.down(now, r.cfg.Quarantine) {
			continue
		}
		c := cand{addr: s.Addr, rtt: unknownRTT, tiebreak: rand.Uint32()}
		if r.rtt != nil {
			if d, ok := r.rtt(s.Name); ok {
				c.rtt = d
			}
		}
		cs = append(cs, c)
	}
	r.noteReachLocked(dcName, dc, now)
	if len(cs) == 0 {
		return nil, fmt.Errorf("%w %q: unreachable, none of its %d servers answers%s",
			structs.ErrNoDCPath, dcName, len(dc.servers), lastErrLocked(dc))
	}
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.rtt != b.rtt {
			return a.rtt < b.rtt
		}
		return a.tiebreak < b.tiebreak
	})
	out := make([]structs.ServerAddr, len(cs))
	for i, c := range cs {
		out[i] = c.addr
	}
	return out, nil
}

// lastErrLocked describes the newest failure among dc's servers.
func lastErrLocked(dc *dcState) string {
	var newest *serverState
	for _, s := range dc.servers {
		if s.lastErr != "" && (newest == nil || s.lastFailure.After(newest.lastFailure)) {
			newest = s
		}
	}
	if newest == nil {
		return " (all failed in gossip)"
	}
	return fmt.Sprintf(" (last: %s: %s)", newest.Addr, newest.lastErr)
}

// noteReachLocked logs when a datacenter becomes unreachable or
// reachable again.
func (r *Router) noteReachLocked(dcName string, dc *dcState, now time.Time) {
	if dcName == r.cfg.LocalDC || len(dc.servers) == 0 {
		return
	}
	unreachable := true
	for _, s := range dc.servers {
		if !s.down(now, r.cfg.Quarantine) {
			unreachable = false
			break
		}
	}
	if unreachable == dc.unreachable {
		return
	}
	dc.unreachable = unreachable
	if unreachable {
		r.logger.Warn("datacenter unreachable: none of its servers answers", "datacenter", dcName)
	} else {
		r.logger.Info("datacenter reachable again", "datacenter", dcName)
	}
}

// usable tells whether addr in dc is still worth trying: a probe may have
// found it down while an earlier server was being tried.
func (r *Router) usable(dcName string, addr structs.ServerAddr) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	dc := r.dcs[dcName]
	if dc == nil {
		return false
	}
	now := r.cfg.Now()
	for _, s := range dc.servers {
		if s.Addr == addr {
			return !s.down(now, r.cfg.Quarantine)
		}
	}
	return false
}

// ForwardDC sends a call to a server of another datacenter, trying its
// servers best first. Only transport failures move on to the next server;
// an answer that is an error (not found, bad request…) is returned as is.
// A call that is not a blocking query gets AttemptTimeout in all, so a
// datacenter that stopped answering fails fast instead of hanging; a
// blocking query gets its wait plus BlockingGrace per attempt. A
// datacenter none of whose servers answers fails at once. A call the
// remote leader must run (see wantsLeader) goes first to the server the
// caller's leader hint names, when it is one of the answering servers.
//
// Router is the server's Forwarder (server.Deps.Forwarder).
func (r *Router) ForwardDC(ctx context.Context, dc structs.Datacenter, method structs.Method, args, reply any) error {
	dcName := string(dc)
	addrs, err := r.candidates(dcName)
	if err != nil {
		r.record(dcName, "", time.Time{}, err, err)
		return err
	}
	if r.hints != nil && len(addrs) > 1 && wantsLeader(args) {
		leaderFirst(addrs, r.hints.LeaderHint(dc))
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
	caller := ctx
	if !blocking {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.cfg.AttemptTimeout)
		defer cancel()
	}
	var lastErr error
	retriedSame := false
	for i := 0; i < len(addrs); i++ {
		addr := addrs[i]
		if ctx.Err() != nil {
			break
		}
		if i > 0 && !r.usable(dcName, addr) && !retriedSame {
			continue
		}
		started := r.cfg.Now()
		// A non-blocking call's attempt is bounded by ctx already (its
		// deadline is no later than AttemptTimeout from now), so only a
		// blocking query pays for a timer per attempt.
		actx, cancel := ctx, context.CancelFunc(nil)
		if blocking {
			actx, cancel = context.WithTimeout(ctx, attempt)
		}
		err := r.caller.Call(actx, dc, addr, method, args, reply)
		if cancel != nil {
			cancel()
		}
		var answered *structs.RemoteError
		isAnswer := errors.As(err, &answered)
		if err == nil || (isAnswer && !errors.Is(err, structs.ErrNoLeader) && !errors.Is(err, structs.ErrRateLimited)) {
			r.record(dcName, addr, started, nil, nil)
			return err
		}
		lastErr = err
		if caller.Err() != nil {
			// The caller gave up; that says nothing about the server.
			return fmt.Errorf("%w %q: %w", structs.ErrNoDCPath, dcName, caller.Err())
		}
		// A server that answered "no leader" or "rate limit exceeded" is
		// reachable: the call moves on, but the server is not quarantined
		// (a stale read may well be answered by it next).
		serverErr := err
		if isAnswer {
			serverErr = nil
		}
		r.record(dcName, addr, started, err, serverErr)
		r.logger.Warn("cross-datacenter call failed", "datacenter", dcName, "server", addr, "method", method, "error", err)
		if !retryable(args, err) {
			break
		}
		if !retriedSame && ctx.Err() == nil && structs.IsRead(args) && transportFailure(err) && !r.anyUsable(dcName, addrs[i+1:]) {
			// The session to addr died under the call (a gateway on its
			// path went away, say) and no other server is left: a read
			// is safe to run again, and the pool dials a fresh session,
			// through another path, for this one retry of addr.
			retriedSame = true
			addrs = append(addrs[:i+1:i+1], addr)
			r.logger.Debug("retrying a read on a fresh session", "datacenter", dcName, "server", addr, "method", method)
		}
	}
	if lastErr == nil {
		lastErr = ctx.Err()
		if lastErr == nil {
			// Every other candidate was found down meanwhile.
			_, lastErr = r.candidates(dcName)
			if lastErr != nil {
				r.record(dcName, "", time.Time{}, lastErr, lastErr)
				return lastErr
			}
			lastErr = errors.New("no server left to try")
		}
	}
	return fmt.Errorf("%w %q: %v", structs.ErrNoDCPath, dcName, lastErr)
}

// retryable tells whether a failed call may go to another server: a read
// whenever the server did not answer; a write only when it surely never
// arrived (or the server had no leader to apply it, or refused it for its
// rate limit without running it), so no write is applied twice.
func retryable(args any, err error) bool {
	if errors.Is(err, structs.ErrNoLeader) || errors.Is(err, structs.ErrUnreachable) || errors.Is(err, structs.ErrRateLimited) {
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

// transportFailure tells whether err is a connection or session that
// broke under a call (EOF, reset, yamux session or stream shut down),
// not an answer, a deadline or a cancel.
func transportFailure(err error) bool {
	var re *structs.RemoteError
	if err == nil || errors.As(err, &re) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	for _, target := range []error{io.EOF, io.ErrUnexpectedEOF, net.ErrClosed,
		yamux.ErrSessionShutdown, yamux.ErrStreamClosed, yamux.ErrConnectionReset,
		syscall.ECONNRESET, syscall.EPIPE, syscall.ECONNABORTED} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// anyUsable tells whether any of addrs is still worth trying in dc.
func (r *Router) anyUsable(dcName string, addrs []structs.ServerAddr) bool {
	for _, a := range addrs {
		if r.usable(dcName, a) {
			return true
		}
	}
	return false
}

// record counts an attempt's outcome (err) for dc and, when it went to
// addr, keeps evidence about that server: serverErr is nil when the server
// answered, even with an error. started is when the attempt began.
func (r *Router) record(dcName string, addr structs.ServerAddr, started time.Time, err, serverErr error) {
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
	if addr != "" {
		r.evidenceLocked(dcName, dc, addr, started, now, serverErr)
	}
}

// evidenceLocked keeps the result of a call or probe to addr that began at
// started: a success counts from now, a failure from started, so a probe
// that timed out across a heal does not outweigh a later success.
func (r *Router) evidenceLocked(dcName string, dc *dcState, addr structs.ServerAddr, started, now time.Time, err error) {
	for _, s := range dc.servers {
		if s.Addr != addr {
			continue
		}
		if err != nil {
			if started.After(s.lastFailure) {
				s.lastFailure = started
			}
			s.lastErr = err.Error()
		} else if now.After(s.lastSuccess) {
			s.lastSuccess = now
		}
	}
	r.noteReachLocked(dcName, dc, now)
}

// RawReplies reports whether the Router's Caller fills a
// *rpcmux.RawReply passed as the reply (rpcmux.RawReplier): ForwardDC
// hands the reply to it untouched, so a relaying server may then forward
// a call's reply undecoded.
func (r *Router) RawReplies() bool {
	c, ok := r.caller.(interface{ RawReplies() bool })
	return ok && c.RawReplies()
}
