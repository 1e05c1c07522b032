package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gometrics "github.com/hashicorp/go-metrics"

	"consulate/internal/waitctx"
)

// ErrStarted is returned by a second Start.
var ErrStarted = errors.New("gateway: already started")

// Gateway accepts cross-datacenter connections on one port and carries
// them to a server of its own datacenter or on to a gateway of another.
type Gateway struct {
	cfg    Config
	logger *slog.Logger
	dialer net.Dialer
	table  *table
	// sem holds a token per connection being handled (MaxConns).
	sem chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// via holds the splices open through each next-hop gateway: the
	// connection to it and the client's, closed together when the
	// routing table marks that gateway down (closeVia).
	via viaSet

	// mu guards ln, advertise, conns, started and closed.
	mu        sync.Mutex
	ln        net.Listener
	advertise string
	conns     map[net.Conn]struct{}
	started   bool
	closed    bool

	stats struct {
		open, accepted, local, forwarded, refused atomic.Int64
	}
}

// Stats counts what a gateway did since it started.
type Stats struct {
	Open      int64 // spliced connections open now
	Accepted  int64 // connections accepted on the port
	Local     int64 // conn requests spliced to a server of this datacenter
	Forwarded int64 // conn requests spliced to another gateway
	Refused   int64 // requests answered with an error or dropped
}

// New checks cfg and builds a gateway; Start opens its port.
func New(cfg *Config) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := *cfg
	c.Peers = slices.Clone(cfg.Peers)
	logger := c.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "gateway")
	ctx, cancel := context.WithCancel(context.Background())
	g := &Gateway{
		cfg:    c,
		logger: logger,
		sem:    make(chan struct{}, c.MaxConns),
		ctx:    ctx,
		cancel: cancel,
		conns:  make(map[net.Conn]struct{}),
	}
	g.dialer = net.Dialer{Timeout: c.DialTimeout}
	if !c.BindAddr.IsUnspecified() {
		g.dialer.LocalAddr = &net.TCPAddr{IP: c.BindAddr}
	}
	g.table = newTable(c.Datacenter, c.ProbeInterval, c.Peers)
	g.table.logger = logger
	g.table.onDown = g.closeVia
	return g, nil
}

// Start opens the port and starts probing the known remote gateways.
func (g *Gateway) Start(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started || g.closed {
		return ErrStarted
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort(g.cfg.BindAddr.String(), strconv.Itoa(g.cfg.Port)))
	if err != nil {
		return fmt.Errorf("gateway: listening: %w", err)
	}
	g.started = true
	g.ln = ln
	g.advertise = g.cfg.Advertise
	if g.advertise == "" {
		g.advertise = ln.Addr().String()
	}
	g.table.setSelf(g.advertise)
	g.logger.Info("gateway listening", "addr", ln.Addr().String(), "advertise", g.advertise,
		"datacenter", g.cfg.Datacenter, "peers", len(g.cfg.Peers))
	g.wg.Add(2)
	go g.acceptLoop(ln)
	go g.probeLoop()
	return nil
}

// Addr is the listener's address (nil before Start).
func (g *Gateway) Addr() net.Addr {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln == nil {
		return nil
	}
	return g.ln.Addr()
}

// Advertise is the address this gateway gives others ("" before Start).
func (g *Gateway) Advertise() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.advertise
}

// Routes is the routing table: one route per known remote datacenter, in
// name order; a datacenter known but unreachable has no Gateways.
func (g *Gateway) Routes() []Route { return g.table.routes() }

// Stats returns the gateway's counters.
func (g *Gateway) Stats() Stats {
	return Stats{
		Open:      g.stats.open.Load(),
		Accepted:  g.stats.accepted.Load(),
		Local:     g.stats.local.Load(),
		Forwarded: g.stats.forwarded.Load(),
		Refused:   g.stats.refused.Load(),
	}
}

// Shutdown closes the port and every connection the gateway carries, and
// waits for its goroutines within ctx. It is idempotent.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		if g.ln != nil {
			g.ln.Close()
		}
		for c := range g.conns {
			c.Close()
		}
		g.cancel()
	}
	g.mu.Unlock()
	return waitctx.Wait(ctx, &g.wg)
}

// track registers a connection Shutdown must close; false when the
// gateway is shutting down (the caller closes it).
func (g *Gateway) track(c net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.conns[c] = struct{}{}
	return true
}

// untrack closes a connection and forgets it.
func (g *Gateway) untrack(c net.Conn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
	c.Close()
}

func (g *Gateway) acceptLoop(ln net.Listener) {
	defer g.wg.Done()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if g.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait a little,
			// bounded, and accept again.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			g.logger.Warn("accept", "error", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-g.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		g.stats.accepted.Add(1)
		select {
		case g.sem <- struct{}{}:
		default:
			g.stats.refused.Add(1)
			gometrics.IncrCounter([]string{"gateway", "conns", "refused"}, 1)
			c.SetDeadline(time.Now().Add(100 * time.Millisecond))
			WriteStatus(c, &Status{Error: g.errorf("too many connections (%d)", g.cfg.MaxConns)})
			c.Close()
			continue
		}
		if !g.track(c) {
			<-g.sem
			c.Close()
			return
		}
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			defer func() { <-g.sem }()
			defer g.untrack(c)
			g.handle(c)
		}()
	}
}

// errorf is a refusal's text: it names this gateway.
func (g *Gateway) errorf(format string, args ...any) string {
	return "gateway " + g.Advertise() + ": " + fmt.Sprintf(format, args...)
}

// refuse answers a request with an error status (the caller closes).
func (g *Gateway) refuse(c net.Conn, reason string) { g.refuseCode(c, "", reason) }

// refuseCode is refuse with a Status.Code.
func (g *Gateway) refuseCode(c net.Conn, code, reason string) {
	g.stats.refused.Add(1)
	gometrics.IncrCounter([]string{"gateway", "conns", "refused"}, 1)
	g.logger.Debug("request refused", "remote", c.RemoteAddr().String(), "reason", reason)
	WriteStatus(c, &Status{Error: reason, Code: code})
}

// handle serves one accepted connection.
func (g *Gateway) handle(c net.Conn) {
	c.SetDeadline(time.Now().Add(g.cfg.HandshakeTimeout))
	h, err := ReadHeader(c)
	if err != nil {
		if errors.Is(err, ErrBadHeader) || errors.Is(err, ErrHeaderTooLarge) {
			g.refuse(c, g.errorf("%v", err))
			return
		}
		g.stats.refused.Add(1)
		gometrics.IncrCounter([]string{"gateway", "conns", "refused"}, 1)
		g.logger.Debug("dropping connection", "remote", c.RemoteAddr().String(), "error", err)
		return
	}
	switch h.Kind {
	case KindProbe:
		g.table.learnProber(&h.From, remoteIP(c))
		WriteStatus(c, &Status{OK: true, Advert: g.advert()})
	case KindInfo:
		g.handleInfo(c, h)
	case KindConn:
		g.handleConn(c, h)
	}
}

// Info is what this gateway knows of its datacenter: its gateways, its
// alive servers and the routing table.
func (g *Gateway) Info() *Info {
	local := g.cfg.Local()
	info := &Info{DC: g.cfg.Datacenter, Gateways: g.localGateways(local), Routes: g.table.routes()}
	for _, s := range local.Servers {
		if s.Alive {
			info.Servers = append(info.Servers, InfoServer{Name: s.Name, Addr: s.Addr, GossipAddr: s.GossipAddr})
		}
	}
	return info
}

// localGateways are the alive gateways of this datacenter, this one
// first.
func (g *Gateway) localGateways(local Local) []string {
	self := g.Advertise()
	out := []string{self}
	for _, a := range local.Gateways {
		if a != self && a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// advert is what this gateway tells the gateways it probes or answers.
func (g *Gateway) advert() *Advert {
	return &Advert{DC: g.cfg.Datacenter, Gateways: g.localGateways(g.cfg.Local()), Direct: g.table.direct()}
}

// handleInfo answers an info request, or with Next (first hop only)
// asks the gateway Next and relays its answer. Only a server of this
// datacenter may name a Next (it is how a server joins through a remote
// gateway), and only an info exchange goes there, never a splice. A Next
// that cannot be dialled is refused as "is unreachable" with the dial's
// reason, one that answers as something else as "did not answer as a
// gateway"; since only local servers may ask, this is no port scanner
// for whoever reaches the gateway.
func (g *Gateway) handleInfo(c net.Conn, h *Header) {
	if h.Next == "" || h.Hops > 0 {
		WriteStatus(c, &Status{OK: true, Info: g.Info()})
		return
	}
	if !g.isLocalServer(remoteIP(c)) {
		g.refuse(c, g.errorf("only a server of %s may name a next gateway", g.cfg.Datacenter))
		return
	}
	c.SetDeadline(time.Time{}) // forward bounds its own waits; a status is a small write
	down, _, st, err := g.forward([]candidate{{addr: h.Next}}, &Header{Kind: KindInfo, Hops: h.Hops + 1})
	if err == nil && st.OK && st.Info == nil {
		err = errors.New("no info")
	}
	if err != nil {
		if down != nil {
			g.untrack(down)
		}
		g.logger.Debug("next gateway failed", "next", h.Next, "error", err)
		// Only a local server gets here, so the reason may say whether
		// the address could not be reached or answered as something
		// else; the joining server tells its operator which.
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			g.refuseCode(c, CodeNextUnreachable, g.errorf("next gateway %s is unreachable: %v", h.Next, op.Err))
		} else {
			g.refuseCode(c, CodeNotGateway, g.errorf("next gateway %s did not answer as a gateway", h.Next))
		}
		return
	}
	if down != nil {
		g.untrack(down)
	}
	if st.OK && st.Info != nil {
		// The gateway named for a join is one to probe from now on.
		g.table.addPeer(h.Next, st.Info.DC)
		g.table.learn(&Advert{DC: st.Info.DC, Gateways: st.Info.Gateways})
	}
	WriteStatus(c, st)
}

func (g *Gateway) handleConn(c net.Conn, h *Header) {
	if h.Hops >= MaxHops {
		g.refuse(c, g.errorf("too many hops (%d)", h.Hops))
		return
	}
	dc := h.DC
	if h.Next != "" {
		// Only info may name a next hop: a conn goes to a gateway of
		// the routing table or a server of this datacenter.
		g.refuse(c, g.errorf("a conn request may not name a next gateway"))
		return
	}
	if dc == "" || dc == g.cfg.Datacenter {
		g.connLocal(c, h.Addr)
		return
	}
	// A gateway that is not the first of the path is a transit: it only
	// hands on to a gateway of dc itself, so a path has one transit
	// datacenter at most and cannot loop.
	cands := g.table.route(dc, h.Hops > 0)
	if len(cands) == 0 {
		g.refuse(c, g.errorf("no route to datacenter %q", dc))
		return
	}
	g.forwardConn(c, h, cands)
}

// connLocal connects a client to a server of this datacenter: the one
// named, which must be a known alive server (a gateway is not an open
// relay), or any alive one.
func (g *Gateway) connLocal(c net.Conn, addr string) {
	local := g.cfg.Local()
	var alive []string
	known := false
	for _, s := range local.Servers {
		if addr != "" && (sameAddr(s.Addr, addr) || (s.WANAddr != "" && sameAddr(s.WANAddr, addr))) {
			known = true
			if s.Alive {
				alive = append(alive, s.Addr)
			}
		} else if addr == "" && s.Alive {
			alive = append(alive, s.Addr)
		}
	}
	switch {
	case addr != "" && !known:
		g.refuse(c, g.errorf("%s is not a server of %s", addr, g.cfg.Datacenter))
		return
	case addr != "" && len(alive) == 0:
		g.refuse(c, g.errorf("server %s of %s is not alive", addr, g.cfg.Datacenter))
		return
	case len(alive) == 0:
		g.refuse(c, g.errorf("no alive server of %s", g.cfg.Datacenter))
		return
	}
	rand.Shuffle(len(alive), func(i, j int) { alive[i], alive[j] = alive[j], alive[i] })
	var errs []error
	for _, a := range alive[:min(len(alive), 3)] {
		s, err := g.dial(a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := WriteStatus(c, &Status{OK: true}); err != nil {
			g.untrack(s)
			return
		}
		g.stats.local.Add(1)
		gometrics.IncrCounter([]string{"gateway", "conns", "local"}, 1)
		g.splice(c, s)
		g.untrack(s)
		return
	}
	g.refuse(c, g.errorf("dialing a server of %s: %v", g.cfg.Datacenter, joinErrs(errs)))
}

// forwardConn carries a conn request to the next gateway and, once the
// path is up, splices.
func (g *Gateway) forwardConn(c net.Conn, h *Header, cands []candidate) {
	c.SetDeadline(time.Time{}) // forward bounds its own waits; a status is a small write
	fwd := &Header{Kind: KindConn, DC: h.DC, Addr: h.Addr, Hops: h.Hops + 1}
	down, next, st, err := g.forward(cands, fwd)
	if err != nil {
		g.refuse(c, g.errorf("datacenter %q: %v", h.DC, err))
		return
	}
	if !st.OK {
		g.refuse(c, st.Error) // the downstream gateways named themselves
		return
	}
	if err := WriteStatus(c, st); err != nil {
		g.untrack(down)
		return
	}
	g.stats.forwarded.Add(1)
	gometrics.IncrCounter([]string{"gateway", "conns", "forwarded"}, 1)
	g.via.add(next, down, c)
	g.splice(c, down)
	g.via.drop(next, down)
	g.untrack(down)
}

// closeVia closes every splice through the next-hop gateway addr, both
// ends: the routing table has marked it down. A gateway whose host is
// gone answers nothing, and writes into a silent TCP path succeed into
// kernel buffers for a long while; closing the client's end makes it
// redial at once, through a gateway that answers.
func (g *Gateway) closeVia(addr string) {
	n := g.via.closeAll(addr)
	if n == 0 {
		return
	}
	g.logger.Info("closing connections through a gateway marked down", "gateway", addr, "connections", n)
	gometrics.IncrCounter([]string{"gateway", "conns", "cut"}, float32(n))
}

// forward tries each candidate in order: dial, send hdr, read its status.
// A candidate that cannot be dialled or does not answer is marked suspect
// and the next one is tried at once; one that refuses (its routing table
// or server list differs) makes way for the next too. One deadline,
// statusWait from now, bounds all the candidates together (each dial
// also by DialTimeout), so that this gateway answers its client before
// the client gives up on it. It returns the tracked connection and its
// OK status, and the candidate's address; or no connection and the
// refusals' status when every candidate that answered refused; or err
// listing every failure when none answered.
func (g *Gateway) forward(cands []candidate, hdr *Header) (net.Conn, string, *Status, error) {
	deadline := time.Now().Add(g.statusWait(hdr.Hops - 1))
	var errs []error
	var refusals []string
	for i, cand := range cands {
		if time.Until(deadline) <= 0 {
			errs = append(errs, fmt.Errorf("no time left for %d more gateway(s) after %v", len(cands)-i, g.statusWait(hdr.Hops-1)))
			break
		}
		down, err := g.dialBy(cand.addr, deadline)
		if err != nil {
			g.table.suspect(cand.addr)
			errs = append(errs, err)
			continue
		}
		down.SetDeadline(deadline)
		err = WriteHeader(down, hdr)
		var st *Status
		if err == nil {
			st, err = ReadStatus(down)
		}
		if err != nil {
			g.untrack(down)
			g.table.suspect(cand.addr)
			errs = append(errs, fmt.Errorf("%s: %w", cand.addr, err))
			continue
		}
		if !st.OK {
			g.untrack(down)
			refusals = append(refusals, st.Error)
			continue
		}
		down.SetDeadline(time.Time{})
		return down, cand.addr, st, nil
	}
	if len(refusals) > 0 {
		// The refusals name the gateways that made them.
		return nil, "", &Status{Error: strings.Join(refusals, "; ")}, nil
	}
	return nil, "", nil, joinErrs(errs)
}

// statusWait bounds the wait for a next hop's status at a gateway that
// is hops gateways into the path: the handshake timeout plus a dial
// timeout per hop that may still come, so that a gateway further along
// times out (and says so) before the one before it gives up on it.
func (g *Gateway) statusWait(hops int) time.Duration {
	return g.cfg.HandshakeTimeout + time.Duration(max(MaxHops-hops, 0))*g.cfg.DialTimeout
}

// dial connects from the bind address, bounded by DialTimeout, and
// tracks the connection.
func (g *Gateway) dial(addr string) (net.Conn, error) {
	return g.dialBy(addr, time.Time{})
}

// dialBy is dial, also bounded by deadline (zero: none).
func (g *Gateway) dialBy(addr string, deadline time.Time) (net.Conn, error) {
	ctx := g.ctx
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	c, err := g.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if !g.track(c) {
		c.Close()
		return nil, fmt.Errorf("%s: %w", addr, net.ErrClosed)
	}
	return c, nil
}

// splice copies bytes both ways until both sides have finished or the
// connection has been idle for IdleTimeout; an end that closes its write
// side is passed on as a half-close.
func (g *Gateway) splice(a, b net.Conn) {
	a.SetDeadline(time.Time{})
	b.SetDeadline(time.Time{})
	g.stats.open.Add(1)
	defer g.stats.open.Add(-1)
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.pipe(b, a, &last)
	}()
	g.pipe(a, b, &last)
	<-done
}

// pipe copies src to dst. Deadlines are re-armed at most every eighth of
// the idle timeout (a timer reset per read costs); a read that times out
// while the other direction was busy goes on.
func (g *Gateway) pipe(dst, src net.Conn, last *atomic.Int64) {
	idle := g.cfg.IdleTimeout
	buf := make([]byte, 16<<10) // ×2 per splice, ×MaxConns at worst: 128 MiB
	var armedR, armedW time.Time
	abort := func() {
		src.Close()
		dst.Close()
	}
	for {
		now := time.Now()
		if now.Sub(armedR) > idle/8 {
			src.SetReadDeadline(now.Add(idle))
			armedR = now
		}
		n, err := src.Read(buf)
		if n > 0 {
			now = time.Now()
			last.Store(now.UnixNano())
			if now.Sub(armedW) > idle/8 {
				dst.SetWriteDeadline(now.Add(idle))
				armedW = now
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				abort()
				return
			}
		}
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			} else {
				dst.Close()
			}
			return
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, last.Load())) < idle {
			armedR = time.Time{}
			continue
		}
		abort()
		return
	}
}

// joinErrs is errors.Join on one line: statuses and logs show it.
func joinErrs(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	parts := make([]string, len(errs))
	for i, e := range errs {
		parts[i] = e.Error()
	}
	return &joinedError{msg: strings.Join(parts, "; "), errs: errs}
}

type joinedError struct {
	msg  string
	errs []error
}

func (e *joinedError) Error() string   { return e.msg }
func (e *joinedError) Unwrap() []error { return e.errs }

// remoteIP is the IP a connection comes from (nil if not TCP).
func remoteIP(c net.Conn) net.IP {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP
	}
	return nil
}

// isLocalServer reports whether ip is the IP of an alive server of this
// datacenter (its LAN or WAN address).
func (g *Gateway) isLocalServer(ip net.IP) bool {
	if ip == nil {
		return false
	}
	for _, s := range g.cfg.Local().Servers {
		if !s.Alive {
			continue
		}
		for _, a := range []string{s.Addr, s.WANAddr} {
			if h, _, err := net.SplitHostPort(a); err == nil && net.ParseIP(h).Equal(ip) {
				return true
			}
		}
	}
	return false
}

// sameAddr compares two host:port addresses, IPs by value.
func sameAddr(a, b string) bool {
	if a == b {
		return true
	}
	ah, ap, err1 := net.SplitHostPort(a)
	bh, bp, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || ap != bp {
		return false
	}
	ai, bi := net.ParseIP(ah), net.ParseIP(bh)
	return ai != nil && ai.Equal(bi)
}
