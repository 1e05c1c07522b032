package rpcmux

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/yamux"

	"consulate/internal/connlimit"
	"consulate/internal/waitctx"
	"consulate/structs"
)

// Handler serves calls. The server package's Server implements it.
// Both methods are called concurrently from many goroutines.
type Handler interface {
	// NewCall returns fresh pointers to decode the arguments into and to
	// fill with the reply, or ok=false for an unknown method. It must not
	// block.
	NewCall(method structs.Method) (args, reply any, ok bool)
	// RPC serves one call; it may block until ctx is done.
	RPC(ctx context.Context, method structs.Method, args, reply any) error
}

// LeaderHinter is an optional interface of a Handler: LeaderHint returns
// the RPC address of the leader of the handler's datacenter as it knows it
// ("" when none), sent with every answer so that clients can go to the
// leader directly (Pool.LeaderHint). It is called once per answer, from
// many goroutines, and must be cheap and never block.
type LeaderHinter interface {
	LeaderHint() string
}

// Mux serves the server port: it accepts connections, reads the protocol
// byte and hands each connection to the RPC server, the yamux session
// server or the RaftLayer.
type Mux struct {
	cfg    Config
	h      Handler
	hinter LeaderHinter // h, when it gives leader hints; else nil
	relay  Relayer      // h, when it relays raw replies; else nil
	logger *slog.Logger
	codec  *wireCodec
	raft   *RaftLayer
	limit  *connlimit.Limiter
	// exempt counts the connections of IPs that Config.LimitExempt
	// exempts, capped by MaxConnsPerExemptClient.
	exempt *connlimit.Limiter
	stats  muxCounters

	// baseCtx is the parent of every handler's ctx; cancelled on Shutdown.
	baseCtx    context.Context
	baseCancel context.CancelFunc
	shutdownCh chan struct{}
	wg         sync.WaitGroup

	// connsMu guards listeners, conns and shutdown.
	connsMu   sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[io.Closer]struct{}
	shutdown  bool
}

// New validates cfg and returns a Mux serving h. Call Serve to start
// accepting. A nil logger discards the logs.
func New(cfg Config, h Handler, logger *slog.Logger) (*Mux, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("%w: nil Handler", ErrInvalidConfig)
	}
	cfg.AcceptBacklog = max(cfg.AcceptBacklog, cfg.MaxStreamsPerSession)
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Mux{
		cfg:        cfg,
		h:          h,
		logger:     logger.With("component", "rpcmux"),
		codec:      newWireCodec(cfg.MaxMessageSize),
		shutdownCh: make(chan struct{}),
		listeners:  make(map[net.Listener]struct{}),
		conns:      make(map[io.Closer]struct{}),
		limit:      connlimit.New(cfg.MaxConnsPerClient),
		exempt:     connlimit.New(cfg.exemptCap()),
	}
	m.hinter, _ = h.(LeaderHinter)
	m.relay, _ = h.(Relayer)
	m.baseCtx, m.baseCancel = context.WithCancel(context.Background())
	m.raft = newRaftLayer(m)
	return m, nil
}

// RaftLayer returns the raft.StreamLayer fed by connections that open with
// RPCRaft.
func (m *Mux) RaftLayer() *RaftLayer { return m.raft }

// Serve accepts connections on ln until Shutdown, which makes it return
// ErrClosed. Any other accept error that is not temporary is returned.
// Serve closes ln when it returns.
func (m *Mux) Serve(ln net.Listener) error {
	m.connsMu.Lock()
	if m.shutdown {
		m.connsMu.Unlock()
		ln.Close()
		return ErrClosed
	}
	m.listeners[ln] = struct{}{}
	m.raft.setListenAddr(ln.Addr())
	m.connsMu.Unlock()
	defer func() {
		m.connsMu.Lock()
		delete(m.listeners, ln)
		m.connsMu.Unlock()
		ln.Close()
	}()

	const maxBackoff = time.Second
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			select {
			case <-m.shutdownCh:
				return ErrClosed
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), maxBackoff)
				m.logger.Warn("accept failed; retrying", "error", err, "backoff", backoff)
				select {
				case <-time.After(backoff):
					continue
				case <-m.shutdownCh:
					return ErrClosed
				}
			}
			return fmt.Errorf("rpcmux: accept: %w", err)
		}
		backoff = 0
		conn, ok := m.admit(conn)
		if !ok {
			continue
		}
		if !m.trackAndAdd(conn) {
			conn.Close()
			return ErrClosed
		}
		go func() {
			defer m.wg.Done()
			m.handleConn(conn)
		}()
	}
}

// admit counts conn against its client IP's cap. Over the cap it is
// closed at once, before a byte is read; otherwise the returned conn gives
// its slot back when closed.
func (m *Mux) admit(conn net.Conn) (net.Conn, bool) {
	limiter, limit, exempt := m.limit, m.cfg.MaxConnsPerClient, false
	if m.cfg.LimitExempt != nil {
		if ip, ok := connlimit.ClientIP(conn); ok && m.cfg.LimitExempt(net.ParseIP(ip)) {
			limiter, limit, exempt = m.exempt, m.cfg.exemptCap(), true
		}
	}
	counted, _, ok := limiter.Acquire(conn)
	if !ok {
		// Counted before the close, so a client that sees the close
		// also sees the count.
		m.stats.connsRejected.Add(1)
		conn.Close()
		if m.stats.warnAllowed(time.Now()) {
			m.logger.Warn("client IP is at its connection limit; closing new connection",
				"remote", conn.RemoteAddr().String(), "limit", limit, "exempt", exempt,
				"rejected_total", m.stats.connsRejected.Load())
		}
		return nil, false
	}
	return counted, true
}

// Stats returns the port's counters.
func (m *Mux) Stats() MuxStats {
	return MuxStats{
		Conns:                m.limit.Open() + m.exempt.Open(),
		ConnsRejected:        m.stats.connsRejected.Load(),
		HandshakeTimeouts:    m.stats.handshakeTimeouts.Load(),
		IdleClosed:           m.stats.idleClosed.Load(),
		StreamsRejected:      m.stats.streamsRejected.Load(),
		PlainRefused:         m.stats.plainRefused.Load(),
		TLSHandshakeFailures: m.stats.tlsFailed.Load(),
	}
}

// isTemporary reports errors Accept may recover from (e.g. EMFILE).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// track registers c to be closed on Shutdown; false if already shut down.
func (m *Mux) track(c io.Closer) bool {
	m.connsMu.Lock()
	defer m.connsMu.Unlock()
	if m.shutdown {
		return false
	}
	m.conns[c] = struct{}{}
	return true
}

// trackAndAdd is track plus a WaitGroup Add under the same lock, for a
// goroutine started from outside any goroutine the group already counts.
func (m *Mux) trackAndAdd(c io.Closer) bool {
	m.connsMu.Lock()
	defer m.connsMu.Unlock()
	if m.shutdown {
		return false
	}
	m.conns[c] = struct{}{}
	m.wg.Add(1)
	return true
}

func (m *Mux) untrack(c io.Closer) {
	m.connsMu.Lock()
	delete(m.conns, c)
	m.connsMu.Unlock()
}

// handleConn reads the protocol byte and dispatches. The handshake
// deadline set here stays on the connection until the protocol's own
// preamble is done: the TLS handshake and the inner protocol byte, then
// the first request frame for plain RPC, the first yamux frame header for
// a multiplexed session.
func (m *Mux) handleConn(conn net.Conn) {
	remote := conn.RemoteAddr().String()
	var first [1]byte
	deadline := time.Now().Add(m.cfg.HandshakeTimeout)
	_ = conn.SetReadDeadline(deadline)
	if _, err := io.ReadFull(conn, first[:]); err != nil {
		if isTimeout(err) {
			m.handshakeTimedOut(remote, "protocol byte")
		} else {
			m.logger.Debug("connection closed before protocol byte", "remote", remote, "error", err)
		}
		m.closeConn(conn)
		return
	}

	t := RPCType(first[0])
	switch t {
	case RPCPlain, RPCRaft, RPCMultiplex, RPCGossip:
		if t == RPCGossip && m.cfg.Gossip == nil {
			m.logger.Warn("unknown protocol byte; closing connection", "remote", remote, "byte", int(first[0]))
			m.closeConn(conn)
			return
		}
		if m.cfg.RequireTLS != nil && m.cfg.RequireTLS() {
			m.stats.plainRefused.Add(1)
			if m.stats.plainWarnAllowed(time.Now()) {
				m.logger.Warn("non-TLS connection attempted with verify_incoming enabled; closing",
					"remote", remote, "protocol", t.String(), "refused_total", m.stats.plainRefused.Load())
			}
			m.closeConn(conn)
			return
		}
		m.serveProto(conn, t, remote)
	case RPCTLS, RPCTLSInsecure:
		var cfg *tls.Config
		if t == RPCTLS && m.cfg.TLS != nil {
			cfg = m.cfg.TLS()
		}
		if t == RPCTLSInsecure && m.cfg.InsecureTLS != nil {
			cfg = m.cfg.InsecureTLS()
		}
		if cfg == nil {
			m.logger.Warn("TLS connection attempted but TLS is not configured; closing", "remote", remote, "protocol", t.String())
			m.closeConn(conn)
			return
		}
		tc, err := serverTLS(conn, cfg, deadline)
		if err != nil {
			m.closeConn(conn)
			select {
			case <-m.shutdownCh:
				return // Shutdown closed it mid-handshake
			default:
			}
			if isTimeout(err) || errors.Is(err, context.DeadlineExceeded) {
				m.handshakeTimedOut(remote, "TLS handshake")
				return
			}
			m.stats.tlsFailed.Add(1)
			if m.stats.tlsWarnAllowed(time.Now()) {
				m.logger.Warn("TLS handshake failed; closing", "remote", remote, "error", err,
					"failed_total", m.stats.tlsFailed.Load())
			}
			return
		}
		// From here the TLS connection stands for the raw one: closing it
		// closes both.
		m.untrack(conn)
		if !m.track(tc) {
			tc.Close()
			return
		}
		if _, err := io.ReadFull(tc, first[:]); err != nil {
			if isTimeout(err) {
				m.handshakeTimedOut(remote, "protocol byte inside TLS")
			} else {
				m.logger.Debug("TLS connection closed before protocol byte", "remote", remote, "error", err)
			}
			m.closeConn(tc)
			return
		}
		if t == RPCTLSInsecure {
			if inner := RPCType(first[0]); inner != RPCPlain {
				m.logger.Warn("only plain RPC is served over TLS without a client certificate; closing",
					"remote", remote, "protocol", inner.String())
				m.closeConn(tc)
				return
			}
			allowed := m.cfg.InsecureAllowed
			if allowed == nil {
				allowed = func(structs.Method) bool { return false }
			}
			m.serveCallsOnly(tc, remote, tc, allowed)
			m.closeConn(tc)
			return
		}
		switch inner := RPCType(first[0]); inner {
		case RPCGossip:
			// Servers of other datacenters send it, so VerifyRaftPeer
			// (a server of this datacenter) does not apply, but
			// VerifyGossipPeer (a server of any) does.
			if m.cfg.Gossip == nil {
				m.logger.Warn("unknown protocol byte inside TLS; closing connection", "remote", remote, "byte", int(first[0]))
				m.closeConn(tc)
				return
			}
			if m.cfg.VerifyGossipPeer != nil {
				if err := m.cfg.VerifyGossipPeer(tc.ConnectionState()); err != nil {
					m.stats.tlsFailed.Add(1)
					if m.stats.raftPeerWarnAllowed(time.Now()) {
						m.logger.Warn("gossip connection refused: the peer is not a server", "remote", remote, "error", err)
					}
					m.closeConn(tc)
					return
				}
			}
			m.serveProto(tc, inner, remote)
		case RPCRaft:
			if m.cfg.VerifyRaftPeer != nil {
				if err := m.cfg.VerifyRaftPeer(tc.ConnectionState()); err != nil {
					m.stats.tlsFailed.Add(1)
					if m.stats.raftPeerWarnAllowed(time.Now()) {
						m.logger.Warn("Raft connection refused: the peer is not a server", "remote", remote, "error", err)
					}
					m.closeConn(tc)
					return
				}
			}
			m.serveProto(tc, inner, remote)
		case RPCPlain, RPCMultiplex:
			m.serveProto(tc, inner, remote)
		default:
			m.logger.Warn("unknown protocol byte inside TLS; closing connection", "remote", remote, "byte", int(first[0]))
			m.closeConn(tc)
		}
	default:
		m.logger.Warn("unknown protocol byte; closing connection", "remote", remote, "byte", int(first[0]))
		m.closeConn(conn)
	}
}

// serveProto serves conn, tracked already, with protocol t. conn is the
// TCP connection or the TLS one over it.
func (m *Mux) serveProto(conn net.Conn, t RPCType, remote string) {
	switch t {
	case RPCPlain:
		m.serveCalls(conn, remote, conn)
		m.closeConn(conn)
	case RPCRaft:
		// The Raft transport owns the connection from here on, and reads
		// nothing before it is established.
		_ = conn.SetReadDeadline(time.Time{})
		m.untrack(conn)
		m.raft.handoff(conn)
	case RPCMultiplex:
		m.serveSession(&preambleConn{Conn: conn}, remote)
	case RPCGossip:
		m.serveGossip(conn)
	}
}

// serveGossip hands conn to Config.Gossip. The handler owns it; it stays
// tracked (through a wrapper that forgets it on Close) so that Shutdown
// closes it if the handler or whoever it gave the conn to has not.
func (m *Mux) serveGossip(conn net.Conn) {
	m.untrack(conn)
	gc := &gossipConn{Conn: conn, closed: make(chan struct{})}
	gc.onClose = func() { close(gc.closed); m.untrack(gc) }
	if !m.track(gc) {
		conn.Close()
		return
	}
	m.cfg.Gossip(gc)
}

// gossipConn is a connection handed to Config.Gossip; its Close also
// drops it from the Mux's tracked connections. Closed tells the handler
// when it has been closed (by Shutdown, or by whoever holds it), so that
// it can stop waiting on anything else (wan.ClosedNotifier).
type gossipConn struct {
	net.Conn
	once    sync.Once
	onClose func()
	closed  chan struct{}
}

// Closed is closed once the connection has been.
func (c *gossipConn) Closed() <-chan struct{} { return c.closed }

// Close closes the connection and forgets it.
func (c *gossipConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.onClose)
	return err
}

// handshakeTimedOut counts and logs a connection cut off at the deadline.
func (m *Mux) handshakeTimedOut(remote, waitingFor string) {
	m.stats.handshakeTimeouts.Add(1)
	if m.stats.warnAllowed(time.Now()) {
		m.logger.Warn("connection did not finish its handshake in time; closing", "remote", remote,
			"waiting_for", waitingFor, "timeout", m.cfg.HandshakeTimeout, "timeouts_total", m.stats.handshakeTimeouts.Load())
	}
}

func (m *Mux) closeConn(c io.Closer) {
	m.untrack(c)
	c.Close()
}

// serveSession runs a yamux server session, serving calls on every
// stream the client opens, at most MaxStreamsPerSession at once.
func (m *Mux) serveSession(conn *preambleConn, remote string) {
	sess, err := yamux.Server(conn, yamuxConfig(m.cfg.KeepAliveInterval, m.cfg.ConnectionWriteTimeout, m.cfg.AcceptBacklog))
	if err != nil {
		m.logger.Error("starting yamux session", "remote", remote, "error", err)
		m.closeConn(conn.Conn)
		return
	}
	// The tracked conn is the one handleConn got; closing the session
	// closes it, so the session takes its place.
	ss := &serverSession{sess: sess}
	m.untrack(conn.Conn)
	if !m.track(ss) {
		ss.Close()
		return
	}
	defer m.closeConn(ss)

	streams := &ss.streams
	slots := make(chan struct{}, m.cfg.MaxStreamsPerSession)
	for {
		stream, err := sess.AcceptStream()
		if err != nil {
			switch {
			case conn.timedOut.Load():
				m.handshakeTimedOut(remote, "first yamux frame")
			case !sess.IsClosed():
				m.logger.Debug("yamux session ended", "remote", remote, "error", err)
			}
			// Wake streams still reading, before Close has to wait for them.
			streams.expireAll()
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			m.refuseStream(stream, remote)
			continue
		}
		streams.add(stream)
		m.wg.Go(func() {
			m.serveCalls(stream, remote, nil)
			stream.Close()
			streams.remove(stream)
			<-slots
		})
	}
}

// serverSession closes a yamux session without the spin streamSet
// describes: its streams' reads are expired and given a moment to end
// while the session is still up, and only then is it closed.
type serverSession struct {
	sess    *yamux.Session
	streams streamSet
}

// drainTimeout bounds how long Close waits for streams to end.
const drainTimeout = time.Second

func (s *serverSession) Close() error {
	if !s.sess.IsClosed() {
		s.streams.expireAll()
		s.streams.waitEmpty(drainTimeout)
	}
	return s.sess.Close()
}

// refuseStream answers a stream over the session's cap with
// ErrTooManyStreams, without reading its request, and closes it. The
// client knows the call never ran.
func (m *Mux) refuseStream(stream *yamux.Stream, remote string) {
	m.stats.streamsRejected.Add(1)
	if m.stats.warnAllowed(time.Now()) {
		m.logger.Warn("session is at its stream limit; refusing stream", "remote", remote,
			"limit", m.cfg.MaxStreamsPerSession, "refused_total", m.stats.streamsRejected.Load())
	}
	m.wg.Go(func() {
		_ = stream.SetWriteDeadline(time.Now().Add(m.cfg.ConnectionWriteTimeout))
		_ = m.codec.writeFrame(stream, &responseHeader{Error: toRemote(fmt.Errorf("%w (limit %d)", ErrTooManyStreams, m.cfg.MaxStreamsPerSession))}, nil)
		stream.Close()
	})
}

// frameOrErr is what the reader goroutine of serveCalls hands over.
type frameOrErr struct {
	payload []byte
	err     error
}

// serveCalls serves sequential calls on rwc until it ends. A reader
// goroutine reads ahead so that the client closing rwc (cancelling its
// call) cancels the ctx of the call being served.
//
// plain is the connection itself for plain RPC, nil for a yamux stream.
// On it the handshake deadline still runs while the first frame is read;
// after each call the read deadline becomes PlainIdleTimeout, and while a
// call runs there is none, so a long blocking query is not cut off.
func (m *Mux) serveCalls(rwc io.ReadWriteCloser, remote string, plain net.Conn) {
	m.serveCallsOnly(rwc, remote, plain, nil)
}

// serveCallsOnly is serveCalls serving only the methods allowed allows
// (nil: all); any other is answered with structs.ErrPermissionDenied.
func (m *Mux) serveCallsOnly(rwc io.ReadWriteCloser, remote string, plain net.Conn, allowed func(structs.Method) bool) {
	ctx, cancel := context.WithCancel(m.baseCtx)
	defer cancel()
	frames := make(chan frameOrErr)
	done := make(chan struct{})
	readerDone := make(chan struct{})
	// The reader must be gone before this returns: the caller then closes
	// the stream and drops it from its session's streamSet, and a reader
	// left blocked on a stream nobody tracks spins when the session shuts
	// down (see streamSet).
	defer func() {
		close(done)
		if d, ok := rwc.(interface{ SetReadDeadline(time.Time) error }); ok {
			_ = d.SetReadDeadline(time.Unix(1, 0))
			<-readerDone
		}
	}()

	m.wg.Go(func() {
		defer close(readerDone)
		for {
			payload, err := m.codec.readFrame(rwc)
			if err != nil && !errors.Is(err, ErrMessageTooLarge) {
				// The peer went away; stop whatever it was waiting for,
				// including a reply write it will never read.
				cancel()
				if d, ok := rwc.(interface{ SetWriteDeadline(time.Time) error }); ok {
					d.SetWriteDeadline(time.Now())
				}
			}
			select {
			case frames <- frameOrErr{payload, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	})

	for served := 0; ; served++ {
		var f frameOrErr
		select {
		case f = <-frames:
		case <-m.shutdownCh:
			return
		}
		if f.err != nil {
			switch {
			case plain != nil && isTimeout(f.err) && served == 0:
				m.handshakeTimedOut(remote, "first request frame")
			case plain != nil && isTimeout(f.err):
				m.stats.idleClosed.Add(1)
				m.logger.Debug("closing idle plain RPC connection", "remote", remote, "idle", m.cfg.PlainIdleTimeout)
			case errors.Is(f.err, ErrMessageTooLarge):
				m.logger.Warn("refusing oversized request", "remote", remote, "error", f.err)
				// The frame's header was never read, so the seq is unknown.
				_ = m.codec.writeFrame(rwc, &responseHeader{Error: toRemote(f.err)}, nil)
			case errors.Is(f.err, io.EOF), errors.Is(f.err, net.ErrClosed), errors.Is(f.err, yamux.ErrStreamClosed):
			default:
				m.logger.Debug("reading request", "remote", remote, "error", f.err)
			}
			return
		}
		if plain != nil {
			_ = plain.SetReadDeadline(time.Time{})
		}
		if !m.serveOne(ctx, rwc, f.payload, remote, allowed) {
			return
		}
		if plain != nil {
			_ = plain.SetReadDeadline(time.Now().Add(m.cfg.PlainIdleTimeout))
		}
	}
}

// serveOne decodes, runs and answers one call, refusing the methods
// allowed does not allow (nil: all allowed). It returns false when the
// stream can no longer be used.
func (m *Mux) serveOne(ctx context.Context, w io.Writer, payload []byte, remote string, allowed func(structs.Method) bool) bool {
	dec := m.codec.decoder(payload)
	defer dec.release()

	var hdr requestHeader
	if err := dec.decode(&hdr); err != nil {
		m.logger.Warn("malformed request header; closing", "remote", remote, "error", err)
		_ = m.codec.writeFrame(w, &responseHeader{Error: toRemote(fmt.Errorf("%w: malformed request header: %v", ErrProtocol, err))}, nil)
		return false
	}

	if structs.IsStreamMethod(hdr.Method) && (allowed == nil || allowed(hdr.Method)) {
		// A stream's yamux stream is never used for another call.
		m.serveStream(ctx, w, &hdr, dec, remote)
		return false
	}
	var reply any
	var err error
	if allowed != nil && !allowed(hdr.Method) {
		m.logger.Warn("method not allowed over TLS without a client certificate", "method", hdr.Method, "remote", remote)
		err = fmt.Errorf("%w: %s needs a client certificate", structs.ErrPermissionDenied, hdr.Method)
	} else {
		reply, err = m.dispatch(ctx, &hdr, dec)
	}
	resp := responseHeader{Seq: hdr.Seq}
	if m.hinter != nil {
		resp.Leader = m.hinter.LeaderHint()
	}
	if err != nil {
		resp.Error = toRemote(err)
		reply = nil
	}
	err = m.codec.writeFrame(w, &resp, reply)
	if errors.Is(err, ErrMessageTooLarge) {
		m.logger.Warn("reply too large", "method", hdr.Method, "remote", remote, "error", err)
		resp.Error = toRemote(err)
		err = m.codec.writeFrame(w, &resp, nil)
	}
	if err != nil {
		m.logger.Debug("writing reply", "method", hdr.Method, "remote", remote, "error", err)
		return false
	}
	return true
}

// dispatch decodes the arguments and runs the handler under the caller's
// deadline, turning a panic into ErrHandlerPanic.
func (m *Mux) dispatch(ctx context.Context, hdr *requestHeader, dec frameDecoder) (reply any, err error) {
	args, reply, ok := m.h.NewCall(hdr.Method)
	if !ok {
		return nil, fmt.Errorf("%w: %q", structs.ErrUnknownMethod, hdr.Method)
	}
	if err := dec.decode(args); err != nil {
		return nil, &structs.BadRequestError{Reason: fmt.Sprintf("rpcmux: decoding arguments of %s: %v", hdr.Method, err)}
	}
	if hdr.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(hdr.Timeout))
		defer cancel()
	}
	defer func() {
		if r := recover(); r != nil {
			m.logger.Error("handler panicked", "method", hdr.Method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			reply, err = nil, fmt.Errorf("%w: %s: %v", ErrHandlerPanic, hdr.Method, r)
		}
	}()
	if m.relay == nil {
		return reply, m.h.RPC(ctx, hdr.Method, args, reply)
	}
	var raw RawReply
	if err := m.relay.RPCRelay(ctx, hdr.Method, args, reply, &raw); err != nil {
		return nil, err
	}
	if raw.filled {
		return &raw, nil // written verbatim by encodeFrame
	}
	return reply, nil
}

// Shutdown stops accepting, closes every listener, session and connection
// it owns, closes the RaftLayer, and waits for its goroutines or ctx.
// It is idempotent.
func (m *Mux) Shutdown(ctx context.Context) error {
	var closers []io.Closer
	m.connsMu.Lock()
	if !m.shutdown {
		m.shutdown = true
		close(m.shutdownCh)
		m.baseCancel()
		for ln := range m.listeners {
			ln.Close()
		}
		for c := range m.conns {
			closers = append(closers, c)
		}
		clear(m.conns)
	}
	m.connsMu.Unlock()
	// Nothing is tracked after shutdown is set, so the closes can happen
	// outside the lock. Every session's streams are expired first and
	// drained under one deadline, so that many sessions do not each wait
	// their own drainTimeout in turn.
	var sessions []*serverSession
	for _, c := range closers {
		if ss, ok := c.(*serverSession); ok {
			ss.streams.expireAll()
			sessions = append(sessions, ss)
		} else {
			c.Close()
		}
	}
	deadline := time.Now().Add(drainTimeout)
	for _, ss := range sessions {
		ss.streams.waitEmpty(time.Until(deadline))
		ss.sess.Close()
	}
	m.raft.Close()

	if err := waitctx.Wait(ctx, &m.wg); err != nil {
		return fmt.Errorf("rpcmux: shutdown: %w", err)
	}
	return nil
}
