package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
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
	// Gateways returns the alive local gateways (required).
	Gateways func() []string
	// DialTimeout bounds the connection to a local gateway; the wait for
	// the path's status is bounded by the context and by 10×DialTimeout
	// (with the defaults, longer than the local gateway waits for its
	// next hop: 5 s plus 1 s per hop still possible).
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
	c, _, err := d.do(ctx, &Header{Kind: KindConn, DC: dc, Addr: addr}, fmt.Sprintf("conn to %s %s", dc, addr))
	return c, err
}

// Info asks a gateway about its datacenter: next "" is the local gateway
// itself, else the local gateway forwards the question to the gateway
// next (joining through a remote gateway whose datacenter is not known
// yet).
func (d *Dialer) Info(ctx context.Context, next string) (*Info, error) {
	what := "info"
	if next != "" {
		what = "info from " + next
	}
	c, st, err := d.do(ctx, &Header{Kind: KindInfo, Next: next}, what)
	if err != nil {
		return nil, err
	}
	c.Close()
	if st.Info == nil {
		return nil, &RefusedError{Reason: "gateway answered info without info"}
	}
	return st.Info, nil
}

// Routes is the routing table of a local gateway.
func (d *Dialer) Routes(ctx context.Context) ([]Route, error) {
	info, err := d.Info(ctx, "")
	if err != nil {
		return nil, err
	}
	return info.Routes, nil
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
// table) but does not count as the refusing gateway's failure.
func (d *Dialer) do(ctx context.Context, hdr *Header, what string) (net.Conn, *Status, error) {
	gws := d.order()
	derr := &DialError{What: what}
	for _, gw := range gws {
		if err := ctx.Err(); err != nil {
			derr.Tries = append(derr.Tries, err)
			break
		}
		c, st, err := d.try(ctx, gw, hdr)
		if err != nil {
			d.failed(gw)
			d.logger.Debug("local gateway failed", "gateway", gw, "request", what, "error", err)
			derr.Tries = append(derr.Tries, fmt.Errorf("via %s: %w", gw, err))
			continue
		}
		d.succeeded(gw)
		if !st.OK {
			c.Close()
			derr.Tries = append(derr.Tries, &RefusedError{Gateway: gw, Reason: st.Error})
			continue
		}
		return c, st, nil
	}
	return nil, nil, derr
}

// try is one exchange with one local gateway.
func (d *Dialer) try(ctx context.Context, gw string, hdr *Header) (net.Conn, *Status, error) {
	c, err := d.dialer.DialContext(ctx, "tcp", gw)
	if err != nil {
		return nil, nil, err
	}
	deadline := time.Now().Add(10 * d.cfg.DialTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
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
