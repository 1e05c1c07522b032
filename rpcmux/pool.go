package rpcmux

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/yamux"

	"consulate/internal/waitctx"
	"consulate/structs"
)

// Pool is the client side of the server port: it keeps yamux sessions to
// each server address, shared by every caller, and runs calls on their
// streams. It is safe for concurrent use.
//
// Calls never wait for a free stream. Blocking queries (a read with a
// MinQueryIndex) run on their own sessions, apart from every other call:
// hundreds of them parked for minutes neither fill the session a write
// needs nor queue ahead of it on one TCP connection, and a server's
// per-session stream cap can only ever refuse them, never a write. When a
// session holds MaxCallsPerSession calls, the next call opens another
// session to the same server.
type Pool struct {
	cfg    PoolConfig
	logger *slog.Logger
	codec  *wireCodec
	yamux  *yamux.Config
	seq    atomic.Uint64

	// ctx is the parent of every dial and is cancelled on Shutdown.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards addrs, shutdown, and the refs, limit and lastUsed of
	// sessions. It is never held across a dial or any other I/O.
	mu       sync.Mutex
	addrs    map[sessKey]*addrState
	shutdown bool

	// hints maps a structs.Datacenter to an *atomic.Pointer[string], the
	// latest leader hint its servers sent (see LeaderHint).
	hints sync.Map
}

// lane separates calls that may wait for minutes from all others.
type lane uint8

const (
	laneShort lane = iota
	laneBlocking
)

func (l lane) String() string {
	if l == laneBlocking {
		return "blocking"
	}
	return "short"
}

// maxSessionsPerLane bounds the sessions one lane opens to one address;
// with the default MaxCallsPerSession that is over 100,000 calls, and a
// server's per-client connection cap (100 by default) stops it sooner.
const maxSessionsPerLane = 64

// sessKey names one session slot: the n-th session of a lane to addr.
type sessKey struct {
	addr structs.ServerAddr
	lane lane
	n    int
}

// laneOf puts blocking queries in their own lane.
func laneOf(args any) lane {
	if g, ok := args.(structs.QueryOptionsGetter); ok {
		if q := g.GetQueryOptions(); q != nil && q.MinQueryIndex > 0 {
			return laneBlocking
		}
	}
	return laneShort
}

// addrState is one session slot: its session, or the dial under way.
type addrState struct {
	sess *session
	// dialing is closed when the dial under way ends; nil if none.
	dialing chan struct{}
	// dialErr is the result of the last failed dial.
	dialErr error
	// dialBounded says the last dial was cut short to fit the deadline of
	// the caller who started it, so other callers may try again.
	dialBounded bool
}

// session is one yamux client session to one address.
type session struct {
	key     sessKey
	dc      structs.Datacenter
	ys      *yamux.Session
	maxIdle int

	// refs, limit and lastUsed are guarded by Pool.mu. refs counts calls
	// holding the session; limit is the most it takes, lowered if the
	// server refuses streams sooner.
	refs     int
	limit    int
	lastUsed time.Time

	// idleMu guards idle, streams kept open between calls.
	idleMu sync.Mutex
	idle   []*yamux.Stream

	// streams holds every open stream, busy or idle.
	streams streamSet
}

// PoolStats is a snapshot for metrics.
type PoolStats struct {
	// Sessions is the number of open sessions.
	Sessions int
	// BlockingSessions is how many of them carry blocking queries.
	BlockingSessions int
	// Streams is the number of open yamux streams, busy or idle.
	Streams int
	// Calls is the number of calls holding a session right now.
	Calls int
	// Dialing is the number of dials under way.
	Dialing int
}

// NewPool validates cfg, returns a Pool and starts its idle reaper; stop
// it with Shutdown. A nil logger discards the logs.
func NewPool(cfg PoolConfig, logger *slog.Logger) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Pool{
		cfg:    cfg,
		logger: logger.With("component", "rpcmux.pool"),
		codec:  newWireCodec(cfg.MaxMessageSize),
		// No server opens streams to a client; the backlog is unused.
		yamux: yamuxConfig(cfg.KeepAliveInterval, cfg.ConnectionWriteTimeout, 16),
		addrs: make(map[sessKey]*addrState),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Go(p.reapLoop)
	return p, nil
}

// Call runs method on the server at addr (host:port) of datacenter dc
// (which picks its TLS config, see PoolConfig.TLS), encoding args and
// decoding the answer into reply (a pointer, or nil to discard it; a
// *RawReply keeps the answer's body undecoded). ctx bounds the dial, the
// wait for a stream and the call itself; its deadline also travels to
// the server. An error from the handler comes back as a
// *structs.RemoteError, so errors.Is(err, structs.ErrNoLeader) and the like
// work; a deadline or cancellation matches context.DeadlineExceeded or
// context.Canceled.
func (p *Pool) Call(ctx context.Context, dc structs.Datacenter, addr structs.ServerAddr, method structs.Method, args, reply any) error {
	return p.request(ctx, dc, addr, method, args, laneOf(args), "call", func(s *session, seq uint64, frame []byte) attempt {
		remote, sent, err := p.callOn(ctx, s, seq, frame, reply)
		// A remote error is the handler's, returned as it came so that
		// the caller gets the *structs.RemoteError itself.
		return attempt{err: err, remote: remote, sent: sent}
	})
}

// attempt is how one try of a request on a session ended.
type attempt struct {
	err error
	// remote: err is the server's answer; sent: some of the request may
	// have reached the server; final: err is returned as it is, with no
	// retry (recv's error, or a stream that already delivered frames).
	remote, sent, final bool
}

// request encodes a request for method and runs it with try on a
// session of lane ln to addr, retrying as Call documents: a session can
// die between being handed out and being used, so a request that sent
// nothing on it is safe to retry once on a fresh session; a stream the
// server refused for its session's cap never ran, so it moves on to
// another session, a few times at most. verb names the request in errors.
func (p *Pool) request(ctx context.Context, dc structs.Datacenter, addr structs.ServerAddr, method structs.Method,
	args any, ln lane, verb string, try func(s *session, seq uint64, frame []byte) attempt) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rpcmux: %s %s to %s: %w", verb, method, addr, err)
	}
	seq := p.seq.Add(1)
	hdr := requestHeader{Method: method, Seq: seq}
	if dl, ok := ctx.Deadline(); ok {
		hdr.Timeout = max(int64(time.Until(dl)), 1)
	}
	buf, err := p.codec.encodeFrame(&hdr, args)
	if err != nil {
		return fmt.Errorf("rpcmux: %s %s to %s: %w", verb, method, addr, err)
	}
	defer p.codec.putBuf(buf)

	retriedDead, refusals := false, 0
	for {
		s, err := p.getSession(ctx, dc, addr, ln)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrTooManyStreams) {
				err = fmt.Errorf("%w: %w", structs.ErrUnreachable, err)
			}
			return fmt.Errorf("rpcmux: %s %s to %s: %w", verb, method, addr, err)
		}
		a := try(s, seq, buf.Bytes())
		p.release(s)
		switch {
		case a.err == nil:
			return nil
		case a.final:
			return a.err
		case a.remote:
			if errors.Is(a.err, ErrTooManyStreams) && refusals < 3 && ctx.Err() == nil {
				refusals++
				p.lowerLimit(s)
				continue
			}
			return a.err
		}
		if s.ys.IsClosed() {
			p.removeSession(s)
			if !a.sent && !retriedDead && ctx.Err() == nil {
				retriedDead = true
				continue
			}
		}
		return fmt.Errorf("rpcmux: %s %s to %s: %w", verb, method, addr, a.err)
	}
}

// lowerLimit makes s take no more calls than it holds now, after the
// server refused a stream on it: the server's cap is lower than ours.
func (p *Pool) lowerLimit(s *session) {
	p.mu.Lock()
	if s.refs < s.limit {
		s.limit = max(s.refs, 1)
	}
	p.mu.Unlock()
	p.logger.Warn("server refused a stream: its per-session cap is below MaxCallsPerSession; spreading calls over more sessions",
		"addr", s.key.addr, "lane", s.key.lane.String(), "calls", s.limit)
}

// callOn runs one call on s. remote reports that err came from the
// server's answer; sent reports whether any byte of the request may have
// reached the server.
func (p *Pool) callOn(ctx context.Context, s *session, seq uint64, frame []byte, reply any) (remote, sent bool, err error) {
	st, err := s.stream()
	if err != nil {
		return false, false, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(dl)
	}
	// On cancel, wake a blocked read or write at once; the stream is then
	// closed, which tells the server to cancel the handler's ctx.
	stop := context.AfterFunc(ctx, func() { _ = st.SetDeadline(time.Unix(1, 0)) })
	reusable := false
	defer func() {
		if stop() && reusable {
			_ = st.SetDeadline(time.Time{})
			s.putIdle(st)
			return
		}
		s.closeStream(st)
	}()

	n, err := st.Write(frame)
	if err != nil {
		return false, n > 0, p.transportErr(ctx, s, err)
	}
	payload, err := p.codec.readFrame(st)
	if err != nil {
		return false, true, p.transportErr(ctx, s, err)
	}
	dec := p.codec.decoder(payload)
	defer dec.release()
	var rh responseHeader
	if err := dec.decode(&rh); err != nil {
		return false, true, fmt.Errorf("%w: malformed reply header: %v", ErrProtocol, err)
	}
	p.noteLeader(s.dc, rh.Leader)
	if rh.Seq != seq {
		if rh.Seq == 0 && rh.Error != nil {
			// The server refused the frame before reading its header.
			return true, true, fromRemote(rh.Error)
		}
		return false, true, fmt.Errorf("%w: reply seq %d for request %d", ErrProtocol, rh.Seq, seq)
	}
	reusable = true
	if rh.Error != nil {
		return true, true, fromRemote(rh.Error)
	}
	if raw, ok := reply.(*RawReply); ok {
		// Relayed as it came; payload is this call's own buffer.
		body := dec.rest(payload)
		if len(body) == 0 {
			return false, true, fmt.Errorf("%w: reply has no body", ErrProtocol)
		}
		raw.set(body)
		return false, true, nil
	}
	if err := dec.decode(reply); err != nil {
		return false, true, fmt.Errorf("%w: decoding reply: %v", ErrProtocol, err)
	}
	return false, true, nil
}

// LeaderHint returns the RPC address of dc's leader as the latest answer
// from one of its servers named it, "" when none has. A hint may be stale
// (a server that is no longer leader forwards the call, and its answer
// brings the new hint); use it only as a preference among known servers.
// Answers count for the datacenter a session was first dialed for, which
// is the one a server address belongs to.
func (p *Pool) LeaderHint(dc structs.Datacenter) structs.ServerAddr {
	if v, ok := p.hints.Load(dc); ok {
		if h := v.(*atomic.Pointer[string]).Load(); h != nil {
			return structs.ServerAddr(*h)
		}
	}
	return ""
}

// noteLeader records hint, when set, as dc's leader. Most answers repeat
// the hint already held, which costs a map read and a compare.
func (p *Pool) noteLeader(dc structs.Datacenter, hint string) {
	if hint == "" {
		return
	}
	v, ok := p.hints.Load(dc)
	if !ok {
		v, _ = p.hints.LoadOrStore(dc, new(atomic.Pointer[string]))
	}
	ptr := v.(*atomic.Pointer[string])
	if old := ptr.Load(); old == nil || *old != hint {
		h := hint // only a change allocates
		ptr.Store(&h)
	}
}

// transportErr explains a failed read or write: a deadline or cancel of
// ctx wins over the I/O error it caused.
func (p *Pool) transportErr(ctx context.Context, s *session, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if errors.Is(err, yamux.ErrTimeout) {
		if s.ys.IsClosed() {
			// The watcher expired the deadline because the session died.
			return yamux.ErrSessionShutdown
		}
		// Otherwise only ctx sets stream deadlines, so its deadline has
		// passed even if ctx has not noticed yet.
		return context.DeadlineExceeded
	}
	return err
}

// getSession returns a session of lane ln to addr, a server of dc, with a
// reference held: the first one with room, dialing it if needed.
func (p *Pool) getSession(ctx context.Context, dc structs.Datacenter, addr structs.ServerAddr, ln lane) (*session, error) {
	for n := range maxSessionsPerLane {
		s, full, err := p.getSessionAt(ctx, dc, sessKey{addr: addr, lane: ln, n: n})
		if err != nil {
			return nil, err
		}
		if !full {
			return s, nil
		}
	}
	return nil, fmt.Errorf("%w: %d %s sessions to %s are full", ErrTooManyStreams, maxSessionsPerLane, ln, addr)
}

// take adds a reference to s unless it is full. Call with p.mu held.
func (s *session) take() bool {
	if s.refs >= s.limit {
		return false
	}
	s.refs++
	return true
}

// getSessionAt returns the session in slot key with a reference held,
// dialing it if needed, or full=true if it has no room. Concurrent
// callers for one slot share one dial.
func (p *Pool) getSessionAt(ctx context.Context, dc structs.Datacenter, key sessKey) (s *session, full bool, err error) {
	addr := key.addr
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		p.mu.Lock()
		if p.shutdown {
			p.mu.Unlock()
			return nil, false, ErrClosed
		}
		st := p.addrs[key]
		if st == nil {
			st = &addrState{}
			p.addrs[key] = st
		}
		if s := st.sess; s != nil {
			if !s.ys.IsClosed() {
				ok := s.take()
				p.mu.Unlock()
				if !ok {
					return nil, true, nil
				}
				return s, false, nil
			}
			st.sess = nil
		}
		if st.dialing == nil {
			timeout, bounded := p.cfg.DialTimeout, false
			if dl, ok := ctx.Deadline(); ok {
				d := time.Until(dl)
				if p.cfg.MinDialTime != nil {
					d = max(d, p.cfg.MinDialTime(dc))
				}
				if d < timeout {
					timeout, bounded = d, true
				}
			}
			ch := make(chan struct{})
			st.dialing = ch
			p.wg.Go(func() { p.dial(dc, key, st, ch, timeout, bounded) })
		}
		ch := st.dialing
		p.mu.Unlock()

		select {
		case <-ch:
		case <-ctx.Done():
			return nil, false, fmt.Errorf("dialing %s: %w", addr, ctx.Err())
		}

		p.mu.Lock()
		if s := st.sess; s != nil && !s.ys.IsClosed() {
			ok := s.take()
			p.mu.Unlock()
			if !ok {
				return nil, true, nil
			}
			return s, false, nil
		}
		dialErr, bounded := st.dialErr, st.dialBounded
		p.mu.Unlock()
		lastErr = dialErr
		if lastErr == nil {
			lastErr = fmt.Errorf("dialing %s: %w", addr, yamux.ErrSessionShutdown)
		}
		if cerr := ctx.Err(); cerr != nil {
			return nil, false, fmt.Errorf("dialing %s: %w (%v)", addr, cerr, lastErr)
		}
		if dialErr != nil && !bounded {
			return nil, false, lastErr
		}
		// The dial was cut short by another caller's deadline, or its
		// session died at once: try again while ctx allows.
	}
	return nil, false, lastErr
}

// dial establishes the session for st and wakes everyone waiting on ch.
func (p *Pool) dial(dc structs.Datacenter, key sessKey, st *addrState, ch chan struct{}, timeout time.Duration, bounded bool) {
	addr := key.addr
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	s, err := p.connect(ctx, dc, key)

	p.mu.Lock()
	st.dialing = nil
	if err == nil && p.shutdown {
		err = ErrClosed
	}
	if err != nil {
		st.dialErr = fmt.Errorf("dialing %s: %w", addr, err)
		st.dialBounded = bounded
		if st.sess == nil && p.addrs[key] == st {
			delete(p.addrs, key)
		}
	} else {
		st.dialErr, st.dialBounded = nil, false
		s.lastUsed = time.Now()
		st.sess = s
		p.wg.Go(func() { p.watch(s) })
	}
	p.mu.Unlock()
	close(ch)

	if err != nil {
		if s != nil {
			s.ys.Close()
		}
		p.logger.Debug("dial failed", "addr", addr, "error", err)
	} else {
		p.logger.Debug("session established", "addr", addr, "lane", key.lane.String(), "n", key.n)
	}
}

// connect dials key.addr, a server of dc, announces the multiplex
// protocol (inside TLS when PoolConfig.TLS gives a config for dc) and
// starts yamux.
func (p *Pool) connect(ctx context.Context, dc structs.Datacenter, key sessKey) (*session, error) {
	var tlsCfg *tls.Config
	if p.cfg.TLS != nil {
		var err error
		if tlsCfg, err = p.cfg.TLS(dc); err != nil {
			return nil, fmt.Errorf("TLS config for datacenter %q: %w", dc, err)
		}
	}
	conn, err := p.rawDial(ctx, dc, key.addr)
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		if conn, err = clientTLS(ctx, conn, tlsCfg, string(key.addr), RPCMultiplex); err != nil {
			return nil, err
		}
	} else if conn, err = clientPlain(ctx, conn, RPCMultiplex); err != nil {
		return nil, err
	}
	ys, err := yamux.Client(conn, p.yamux)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &session{key: key, dc: dc, ys: ys, maxIdle: p.cfg.MaxIdleStreams, limit: p.cfg.MaxCallsPerSession}, nil
}

// rawDial opens the TCP connection to addr, a server of dc: through
// PoolConfig.Dialer when set, else directly from SourceAddr.
func (p *Pool) rawDial(ctx context.Context, dc structs.Datacenter, addr structs.ServerAddr) (net.Conn, error) {
	if p.cfg.Dialer != nil {
		if c, err := p.cfg.Dialer(ctx, dc, addr); !errors.Is(err, ErrDialDirect) {
			return c, err
		}
	}
	return dialer(p.cfg.SourceAddr, 0).DialContext(ctx, "tcp", string(addr))
}

// DialProto opens a connection of its own to addr, a server of
// datacenter dc, speaking protocol proto: dialed as the pool's sessions
// are (PoolConfig.Dialer, or directly from SourceAddr), inside TLS when
// PoolConfig.TLS gives a config for dc, with proto written as the
// protocol byte. The caller owns the connection. ctx and DialTimeout
// bound the dial and the preamble; Shutdown aborts a dial under way.
// WAN gossip to other datacenters through gateways uses it (RPCGossip).
func (p *Pool) DialProto(ctx context.Context, dc structs.Datacenter, addr structs.ServerAddr, proto RPCType) (net.Conn, error) {
	p.mu.Lock()
	closed := p.shutdown
	p.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	stop := context.AfterFunc(p.ctx, cancel)
	defer stop()
	var tlsCfg *tls.Config
	if p.cfg.TLS != nil {
		var err error
		if tlsCfg, err = p.cfg.TLS(dc); err != nil {
			return nil, fmt.Errorf("rpcmux: dialing %s: TLS config for datacenter %q: %w", addr, dc, err)
		}
	}
	conn, err := p.rawDial(ctx, dc, addr)
	if err != nil {
		return nil, fmt.Errorf("rpcmux: dialing %s: %w", addr, err)
	}
	if tlsCfg != nil {
		conn, err = clientTLS(ctx, conn, tlsCfg, string(addr), proto)
	} else {
		conn, err = clientPlain(ctx, conn, proto)
	}
	if err != nil {
		return nil, fmt.Errorf("rpcmux: dialing %s: %w", addr, err)
	}
	return conn, nil
}

// watch drops s from the pool as soon as yamux closes it (keepalive
// failure, read error, remote close).
func (p *Pool) watch(s *session) {
	select {
	case <-s.ys.CloseChan():
	case <-p.ctx.Done():
	}
	// Wake its streams before closing, so Close need not fight them.
	s.streams.expireAll()
	p.removeSession(s)
}

// release gives back a reference taken by getSession.
func (p *Pool) release(s *session) {
	p.mu.Lock()
	s.refs--
	s.lastUsed = time.Now()
	p.mu.Unlock()
}

// removeSession forgets s, if it is still current, and closes it.
func (p *Pool) removeSession(s *session) {
	p.mu.Lock()
	if st := p.addrs[s.key]; st != nil && st.sess == s {
		st.sess = nil
		if st.dialing == nil {
			delete(p.addrs, s.key)
		}
	}
	p.mu.Unlock()
	s.ys.Close()
}

// stream returns an idle stream or opens a new one.
func (s *session) stream() (*yamux.Stream, error) {
	s.idleMu.Lock()
	if n := len(s.idle); n > 0 {
		st := s.idle[n-1]
		s.idle = s.idle[:n-1]
		s.idleMu.Unlock()
		return st, nil
	}
	s.idleMu.Unlock()
	st, err := s.ys.OpenStream()
	if err != nil {
		return nil, err
	}
	s.streams.add(st)
	return st, nil
}

// closeStream closes st and forgets it.
func (s *session) closeStream(st *yamux.Stream) {
	st.Close()
	s.streams.remove(st)
}

// putIdle keeps st for the next call, up to MaxIdleStreams of them.
func (s *session) putIdle(st *yamux.Stream) {
	s.idleMu.Lock()
	if s.ys.IsClosed() || len(s.idle) >= s.maxIdle {
		s.idleMu.Unlock()
		s.closeStream(st)
		return
	}
	s.idle = append(s.idle, st)
	s.idleMu.Unlock()
}

// reapLoop closes sessions idle for longer than IdleTimeout.
func (p *Pool) reapLoop() {
	t := time.NewTicker(max(p.cfg.IdleTimeout/2, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			p.reapIdle(now)
		case <-p.ctx.Done():
			return
		}
	}
}

// reapIdle closes every session nobody holds and nobody has used since
// now-IdleTimeout, and returns how many it closed.
func (p *Pool) reapIdle(now time.Time) int {
	var idle []*session
	p.mu.Lock()
	for key, st := range p.addrs {
		s := st.sess
		if s == nil || s.refs > 0 || now.Sub(s.lastUsed) < p.cfg.IdleTimeout {
			continue
		}
		st.sess = nil
		if st.dialing == nil {
			delete(p.addrs, key)
		}
		idle = append(idle, s)
	}
	p.mu.Unlock()
	for _, s := range idle {
		p.logger.Debug("closing idle session", "addr", s.key.addr, "lane", s.key.lane.String())
		s.ys.Close()
	}
	return len(idle)
}

// Ping measures the round trip of a yamux ping on the session to addr, a
// server of dc, that short calls use, dialing it if needed.
func (p *Pool) Ping(ctx context.Context, dc structs.Datacenter, addr structs.ServerAddr) (time.Duration, error) {
	s, err := p.getSession(ctx, dc, addr, laneShort)
	if err != nil {
		return 0, fmt.Errorf("rpcmux: ping %s: %w", addr, err)
	}
	type result struct {
		rtt time.Duration
		err error
	}
	// yamux bounds a ping by ConnectionWriteTimeout, so this goroutine
	// ends even if ctx never does.
	ch := make(chan result, 1)
	// Add under mu, where Shutdown decides, so Wait never races an Add.
	p.mu.Lock()
	if p.shutdown {
		p.mu.Unlock()
		p.release(s)
		return 0, fmt.Errorf("rpcmux: ping %s: %w", addr, ErrClosed)
	}
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		rtt, err := s.ys.Ping()
		ch <- result{rtt, err}
	}()
	defer p.release(s)
	select {
	case r := <-ch:
		if r.err != nil {
			if s.ys.IsClosed() {
				p.removeSession(s)
			}
			return 0, fmt.Errorf("rpcmux: ping %s: %w", addr, r.err)
		}
		return r.rtt, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("rpcmux: ping %s: %w", addr, ctx.Err())
	}
}

// Stats returns a snapshot of the pool for metrics.
func (p *Pool) Stats() PoolStats {
	var st PoolStats
	var sessions []*session
	p.mu.Lock()
	for _, a := range p.addrs {
		if a.dialing != nil {
			st.Dialing++
		}
		if a.sess != nil && !a.sess.ys.IsClosed() {
			sessions = append(sessions, a.sess)
			st.Calls += a.sess.refs
			if a.sess.key.lane == laneBlocking {
				st.BlockingSessions++
			}
		}
	}
	p.mu.Unlock()
	st.Sessions = len(sessions)
	for _, s := range sessions {
		st.Streams += s.ys.NumStreams()
	}
	return st
}

// Shutdown closes every session, aborts dials under way, stops the reaper
// and waits for the pool's goroutines or ctx. Calls in progress fail;
// later calls return ErrClosed. It is idempotent.
func (p *Pool) Shutdown(ctx context.Context) error {
	var sessions []*session
	p.mu.Lock()
	if !p.shutdown {
		p.shutdown = true
		p.cancel()
		for _, st := range p.addrs {
			if st.sess != nil {
				sessions = append(sessions, st.sess)
			}
		}
		clear(p.addrs)
	}
	p.mu.Unlock()
	for _, s := range sessions {
		s.ys.Close()
	}
	if err := waitctx.Wait(ctx, &p.wg); err != nil {
		return fmt.Errorf("rpcmux: pool shutdown: %w", err)
	}
	return nil
}
