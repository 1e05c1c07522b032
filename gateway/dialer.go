package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrInvalidDialerConfig is wrapped by errors of NewDialer.
var ErrInvalidDialerConfig = errors.New("gateway: invalid dialer config")

// failureMemory is how long a Dialer remembers a local gateway's
// failures when ordering them.
const failureMemory = 30 * time.Second

// DialerConfig configures a Dialer.
type DialerConfig struct {
	// Source is the IP to dial from (nil: the kernel's choice).
	Source net.IP
	// Gateways returns the alive local gateways (required). The Dialer
	// does not modify the slice (it sorts a copy).
	Gateways func() []string
	// DialTimeout bounds the connection to a local gateway. One request
	// (all the local gateways tried for it together) is bounded by the
	// context and by 10×DialTimeout, which with the defaults is longer
	// than a local gateway waits for its next hops (5 s plus 1 s per hop
	// still possible: 9 s), so the gateway's refusal, naming the hop
	// that failed, arrives before the Dialer gives up.
	DialTimeout time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// Dialer opens connections to other datacenters through the local
// gateways: the client side of the protocol, for servers in gateway mode.
// It is safe for concurrent use.
type Dialer struct {
	cfg    DialerConfig
	logger *slog.Logger
	dialer net.Dialer

	// mu guards fails.
	mu    sync.Mutex
	fails map[string]dialFailures
	// via holds the open connections Dial returned, per local gateway
	// they go through (CloseVia).
	via viaSet
}

type dialFailures struct {
	n    int
	last time.Time
}

// NewDialer checks cfg and builds a Dialer.
func NewDialer(cfg DialerConfig) (*Dialer, error) {
	if cfg.Gateways == nil {
		return nil, fmt.Errorf("%w: Gateways is nil", ErrInvalidDialerConfig)
	}
	if cfg.DialTimeout <= 0 {
		return nil, fmt.Errorf("%w: dial timeout must be positive", ErrInvalidDialerConfig)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Dialer{cfg: cfg, logger: logger.With("component", "gateway.dialer"), fails: map[string]dialFailures{}}
	d.dialer = net.Dialer{Timeout: cfg.DialTimeout}
	if cfg.Source != nil && !cfg.Source.IsUnspecified() {
		d.dialer.LocalAddr = &net.TCPAddr{IP: cfg.Source}
	}
	return d, nil
}

// Dial returns a connection to server addr ("" any alive server) of
// datacenter dc through a local gateway, once the whole path is up. It
// tries the local gateways in order of fewest recent failures; the error
// names each one tried.
func (d *Dialer) Dial(ctx context.Context, dc, addr string) (net.Conn, error) {
	server := addr
	if server == "" {
		server = "any server"
	}
	c, gw, _, err := d.do(ctx, &Header{Kind: KindConn, DC: dc, Addr: addr}, fmt.Sprintf("conn to %s %s", dc, server))
	if err != nil {
		return nil, err
	}
	d.via.add(gw, c, nil)
	return &viaConn{Conn: c, d: d, gw: gw}, nil
}

// CloseVia closes every open connection Dial returned through the local
// gateway gw, and returns how many. The agent calls it when gw stops
// being an alive member of its LAN: a gateway whose host is gone answers
// nothing, and writes into a silent TCP path succeed into kernel buffers
// for a long while, so the sessions and gossip pipes through it would
// not notice; closed, they redial through another local gateway.
func (d *Dialer) CloseVia(gw string) int {
	n := d.via.closeAll(gw)
	if n > 0 {
		d.logger.Info("closed connections through a local gateway that is gone", "gateway", gw, "connections", n)
	}
	return n
}

// viaConn is a connection Dial returned: closing it forgets it.
type viaConn struct {
	net.Conn
	d    *Dialer
	gw   string
	once sync.Once
}

// Close closes the connection and forgets it.
func (c *viaConn) Close() error {
	c.once.Do(func() { c.d.via.drop(c.gw, c.Conn) })
	return c.Conn.Close()
}

// CloseWrite half-closes the connection when the underlying one can.
func (c *viaConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// Info asks a gateway about its datacenter: next "" is the local gateway
// itself, else the local gateway forwards the question to the gateway
// next (joining through a remote gateway whose datacenter is not known
// yet; the local gateway does so only for the IP of a server of its
// datacenter).
func (d *Dialer) Info(ctx context.Context, next string) (*Info, error) {
	what := "info"
	if next != "" {
		what = "info from " + next
	}
	c, _, st, err := d.do(ctx, &Header{Kind: KindInfo, Next: next}, what)
	if err != nil {
		return nil, err
	}
	c.Close()
	if st.Info == nil {
		return nil, &RefusedError{Reason: "gateway answered info without info"}
	}
	return st.Info, nil
}

// routesParallel is how many local gateways Routes asks at once.
const routesParallel = 4

// Routes is the routing table of a local gateway, and which local
// gateway gave it. It asks up to routesParallel local gateways at once
// (in the order Dial uses) and takes the first answer, so that one
// gateway that hangs does not use up the caller's time.
func (d *Dialer) Routes(ctx context.Context) (local string, routes []Route, err error) {
	gws := d.order()
	if len(gws) == 0 {
		return "", nil, &DialError{What: "info"}
	}
	gws = gws[:min(len(gws), routesParallel)]
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		gw   string
		info *Info
		err  error
	}
	answers := make(chan answer, len(gws))
	for _, gw := range gws {
		go func() {
			info, err := d.infoFrom(ctx, gw)
			answers <- answer{gw, info, err}
		}()
	}
	derr := &DialError{What: "info"}
	for range gws {
		a := <-answers
		if a.err == nil {
			return a.gw, a.info.Routes, nil
		}
		derr.Tries = append(derr.Tries, a.err)
	}
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	return "", nil, derr
}

// infoFrom asks the local gateway gw alone for its info.
func (d *Dialer) infoFrom(ctx context.Context, gw string) (*Info, error) {
	c, st, _, err := d.exchange(ctx, ctx, gw, &Header{Kind: KindInfo}, "info", time.Now().Add(10*d.cfg.DialTimeout), 0)
	if err != nil {
		return nil, err
	}
	c.Close()
	if st.Info == nil {
		return nil, &RefusedError{Gateway: gw, Reason: "gateway " + gw + " answered info without info"}
	}
	return st.Info, nil
}

// order sorts the local gateways by recent failures (stable: the given
// order breaks ties).
func (d *Dialer) order() []string {
	gws := slices.Clone(d.cfg.Gateways())
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	count := func(a string) int {
		f := d.fails[a]
		if now.Sub(f.last) > failureMemory {
			return 0
		}
		return f.n
	}
	slices.SortStableFunc(gws, func(a, b string) int { return count(a) - count(b) })
	return gws
}

func (d *Dialer) failed(addr string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.fails[addr]
	if time.Since(f.last) > failureMemory {
		f.n = 0
	}
	f.n++
	f.last = time.Now()
	d.fails[addr] = f
	if len(d.fails) > 1024 { // bounded: forget the oldest entries wholesale
		for a, x := range d.fails {
			if time.Since(x.last) > failureMemory {
				delete(d.fails, a)
			}
		}
	}
}

func (d *Dialer) succeeded(addr string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.fails, addr)
}

// do sends hdr to the local gateways in turn until one answers OK. A
// refusal tries the next local gateway too (each has its own routing
// table) but does not count as the refusing gateway's failure. A local
// gateway that has not answered within HedgeAfter is not given up on,
// but the next one is tried alongside it (a hung gateway — stopped, or
// its process wedged — accepts connections and answers nothing); the
// first OK wins, the others are cancelled, and one still silent after
// HedgeAfter when another won counts as failed, so the next request
// tries it last. One deadline, 10×DialTimeout from now (or ctx's, if
// sooner), bounds all the tries; the error names each gateway tried.
// When the caller gives up (ctx done or its deadline passed) the error
// is ctx's and no gateway is blamed. gw is the local gateway that
// answered OK.
func (d *Dialer) do(ctx context.Context, hdr *Header, what string) (net.Conn, string, *Status, error) {
	gws := d.order()
	derr := &DialError{What: what}
	deadline := time.Now().Add(10 * d.cfg.DialTimeout)
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		i      int
		c      net.Conn
		st     *Status
		gaveUp bool
		err    error
	}
	results := make(chan result, len(gws))
	started := make([]time.Time, len(gws))
	done := make([]bool, len(gws))
	next, pending := 0, 0
	launch := func() {
		i, gw := next, gws[next]
		next++
		pending++
		started[i] = time.Now()
		// While other gateways remain, a connect that hangs past
		// slowConnectAfter moves on to the next one: a local gateway
		// accepts within milliseconds unless its host is gone, and any
		// other gateway serves as well. The last gets the full timeout.
		var connectWithin time.Duration
		if i < len(gws)-1 {
			connectWithin = min(slowConnectAfter, d.cfg.DialTimeout)
		}
		go func() {
			c, st, gaveUp, err := d.exchange(ctx, tctx, gw, hdr, what, deadline, connectWithin)
			results <- result{i, c, st, gaveUp, err}
		}()
	}
	// finish hands the tries still running to a goroutine that closes
	// whatever they return (they were cancelled).
	finish := func() {
		cancel()
		if pending == 0 {
			return
		}
		left := pending
		go func() {
			for ; left > 0; left-- {
				if r := <-results; r.c != nil {
					r.c.Close()
				}
			}
		}()
	}
	hedge := time.NewTimer(HedgeAfter)
	defer hedge.Stop()
	for {
		if pending == 0 {
			if err := ctx.Err(); err != nil {
				return nil, "", nil, err
			}
			if next == len(gws) {
				break
			}
			if time.Until(deadline) <= 0 {
				derr.Tries = append(derr.Tries, fmt.Errorf("gave up after %v with %s untried", 10*d.cfg.DialTimeout, strings.Join(gws[next:], ", ")))
				break
			}
			launch()
			hedge.Reset(HedgeAfter)
		}
		select {
		case r := <-results:
			pending--
			done[r.i] = true
			switch {
			case r.err == nil:
				// Answers already in (a later OK, a refusal) are not
				// silence: take them before blaming the rest.
			drain:
				for pending > 0 {
					select {
					case o := <-results:
						pending--
						done[o.i] = true
						if o.c != nil {
							o.c.Close()
						}
					default:
						break drain
					}
				}
				now := time.Now()
				for j := range next {
					if !done[j] && now.Sub(started[j]) >= HedgeAfter {
						d.failed(gws[j])
						d.logger.Debug("local gateway silent; another answered first", "gateway", gws[j], "request", what)
					}
				}
				finish()
				return r.c, gws[r.i], r.st, nil
			case r.gaveUp:
				// The caller's ctx (do cancels its own only on return).
				finish()
				return nil, "", nil, r.err
			default:
				// A failure or a refusal: the next one at once.
				derr.Tries = append(derr.Tries, r.err)
				if pending > 0 && next < len(gws) && time.Until(deadline) > 0 {
					launch()
					hedge.Reset(HedgeAfter)
				}
			}
		case <-hedge.C:
			if next < len(gws) && time.Until(deadline) > 0 {
				launch()
			}
			hedge.Reset(HedgeAfter)
		}
	}
	return nil, "", nil, derr
}

// HedgeAfter is how long a local gateway may stay silent before the next
// one is tried alongside it. Well above the time a path through two
// gateways takes to come up; a gateway that waits for a slow next hop
// keeps its try, so nothing is lost by asking another.
const HedgeAfter = time.Second

// exchange is one try of hdr with the local gateway gw (see try), run
// under tryCtx (ctx or one derived from it), and its verdict on gw. An OK
// status comes with its connection. A failure counts against gw and comes
// back as "via gw: …", unless the caller gave up (gaveUp: ctx's error, gw
// blamed only if slow to connect), the try was cancelled on its own
// (gaveUp: another gateway answered first; the canceller judges), or it
// ran into deadline (not blamed: a gateway may rightly wait that long on
// a next hop that is down). A refusal comes back as a *RefusedError, its
// connection closed, and does not count against gw (each gateway has its
// own routing table).
func (d *Dialer) exchange(ctx, tryCtx context.Context, gw string, hdr *Header, what string, deadline time.Time, connectWithin time.Duration) (net.Conn, *Status, bool, error) {
	started := time.Now()
	c, st, err := d.try(tryCtx, gw, hdr, deadline, connectWithin)
	if err != nil {
		if cerr := callerGaveUp(ctx); cerr != nil {
			d.slowConnect(gw, err, started)
			return nil, nil, true, cerr
		}
		if cerr := tryCtx.Err(); cerr != nil {
			return nil, nil, true, cerr
		}
		if !time.Now().Before(deadline) {
			d.logger.Debug("local gateway did not answer before the request's deadline", "gateway", gw, "request", what, "error", err)
			return nil, nil, false, fmt.Errorf("via %s: %w", gw, err)
		}
		d.failed(gw)
		d.logger.Debug("local gateway failed", "gateway", gw, "request", what, "error", err)
		return nil, nil, false, fmt.Errorf("via %s: %w", gw, err)
	}
	d.succeeded(gw)
	if !st.OK {
		c.Close()
		return nil, nil, false, &RefusedError{Gateway: gw, Reason: st.Error, Code: st.Code}
	}
	return c, st, false, nil
}

// slowConnectAfter is how long a TCP connect to a local gateway may
// stay pending before the gateway is blamed even though the caller gave
// up first: a local gateway accepts within milliseconds, so one whose
// connect hangs that long is likely gone (its host cut off, its SYNs
// dropped).
const slowConnectAfter = 250 * time.Millisecond

// slowConnect counts a failure of gw when the caller gave up while the
// TCP connect to gw was still pending after slowConnectAfter. Callers
// with short deadlines (probes, calls near their end) would otherwise
// never blame a gateway whose host is gone, and every dial would try it
// first until the LAN takes it for failed.
func (d *Dialer) slowConnect(gw string, err error, started time.Time) {
	var ce *connectError
	if errors.As(err, &ce) && time.Since(started) >= min(slowConnectAfter, d.cfg.DialTimeout) {
		d.failed(gw)
		d.logger.Debug("local gateway slow to connect", "gateway", gw, "error", err)
	}
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// connectError is a TCP connect to a local gateway that failed.
type connectError struct{ err error }

func (e *connectError) Error() string { return e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

// callerGaveUp is the caller's error when a failure is the caller's
// doing: ctx is done, or its deadline has passed (a conn deadline set
// from it may fire before ctx's own timer); nil otherwise.
func callerGaveUp(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// try is one exchange with one local gateway, bounded by deadline and
// ctx; its TCP connect also by connectWithin when positive (else by
// DialTimeout).
func (d *Dialer) try(ctx context.Context, gw string, hdr *Header, deadline time.Time, connectWithin time.Duration) (net.Conn, *Status, error) {
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	connectBy := deadline
	if connectWithin > 0 {
		connectBy = earliest(deadline, time.Now().Add(connectWithin))
	}
	dctx, cancel := context.WithDeadline(ctx, connectBy)
	defer cancel()
	c, err := d.dialer.DialContext(dctx, "tcp", gw)
	if err != nil {
		return nil, nil, &connectError{err}
	}
	c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := WriteHeader(c, hdr); err != nil {
		c.Close()
		return nil, nil, err
	}
	st, err := ReadStatus(c)
	if err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, err
	}
	if !stop() {
		c.Close()
		return nil, nil, ctx.Err()
	}
	c.SetDeadline(time.Time{})
	return c, st, nil
}
