package fedtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"

	"consulate/federation"
	"consulate/internal/waitctx"
	"consulate/rpcmux"
	"consulate/server"
	"consulate/structs"
)

// Handler answers calls that arrive at an address; rpcmux.Handler, which
// server.Server implements.
type Handler = rpcmux.Handler

// ErrSessionClosed fails the calls and pings waiting on a session that
// CloseSession closed, or on a server that was killed.
var ErrSessionClosed = errors.New("fedtest: session closed")

// ErrNetClosed is returned by every call once the Net is closed.
var ErrNetClosed = errors.New("fedtest: network closed")

// Net is an in-memory network between server addresses. Links can be cut
// and healed; a cut link drops every packet both ways. It is safe for
// concurrent use.
type Net struct {
	h *codec.MsgpackHandle
	// mu guards hosts, cut, endpoints and closed; wg counts handlers
	// running (Add only under mu while not closed).
	mu        sync.Mutex
	hosts     map[structs.ServerAddr]*host
	cut       map[link]bool
	endpoints []*Endpoint
	closed    bool
	wg        sync.WaitGroup
	// rtt is what Ping reports.
	rtt time.Duration
}

// host is one address on the network.
type host struct {
	h      Handler
	dead   bool
	served atomic.Int64
}

// link is an unordered pair of addresses.
type link struct{ a, b structs.ServerAddr }

func linkOf(x, y structs.ServerAddr) link {
	if x > y {
		x, y = y, x
	}
	return link{x, y}
}

// NewNet returns an empty network.
func NewNet() *Net {
	return &Net{
		h:     rpcmux.NewMsgpackHandle(),
		hosts: make(map[structs.ServerAddr]*host),
		cut:   make(map[link]bool),
		rtt:   time.Millisecond,
	}
}

// Attach makes h answer calls to addr (again alive if it was killed).
func (n *Net) Attach(addr structs.ServerAddr, h Handler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.hosts[addr] = &host{h: h}
}

// Kill makes addr refuse connections from now on, and fails at once the
// calls waiting on it over links that are not cut (the peer's sockets
// are reset; across a cut the reset is lost too).
func (n *Net) Kill(addr structs.ServerAddr) {
	n.mu.Lock()
	if h := n.hosts[addr]; h != nil {
		h.dead = true
	}
	var eps []*Endpoint
	for _, e := range n.endpoints {
		if !n.cut[linkOf(e.from, addr)] {
			eps = append(eps, e)
		}
	}
	n.mu.Unlock()
	for _, e := range eps {
		e.CloseSession(addr)
	}
}

// Cut drops every packet between x and y, both ways, until Heal.
func (n *Net) Cut(x, y structs.ServerAddr) {
	if x == y {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[linkOf(x, y)] = true
}

// Heal restores every cut link. Calls already waiting across a cut keep
// waiting: their packets are lost.
func (n *Net) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cut)
}

// IsCut reports whether the link between x and y is cut.
func (n *Net) IsCut(x, y structs.ServerAddr) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cut[linkOf(x, y)]
}

// Served counts the calls addr's handler has run.
func (n *Net) Served(addr structs.ServerAddr) int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	if h := n.hosts[addr]; h != nil {
		return h.served.Load()
	}
	return 0
}

// Endpoint returns the network as seen from addr: the Caller and Prober
// of the server there.
func (n *Net) Endpoint(from structs.ServerAddr) *Endpoint {
	e := &Endpoint{n: n, from: from, waiting: make(map[structs.ServerAddr]map[chan struct{}]struct{})}
	n.mu.Lock()
	n.endpoints = append(n.endpoints, e)
	n.mu.Unlock()
	return e
}

// Close fails every call waiting on the network and every later one, and
// waits (within ctx) for the handlers still running.
func (n *Net) Close(ctx context.Context) error {
	n.mu.Lock()
	n.closed = true
	eps := n.endpoints
	n.mu.Unlock()
	for _, e := range eps {
		e.closeAll()
	}
	if err := waitctx.Wait(ctx, &n.wg); err != nil {
		return fmt.Errorf("fedtest: handlers still running: %w", err)
	}
	return nil
}

// route looks up a call from one address to another: the target's host,
// or an error for a closed network or an address that refuses
// connections; cut says the packets would be lost. When it returns a
// host with cut false, it has added one to wg for the handler.
func (n *Net) route(from, to structs.ServerAddr, forCall bool) (h *host, cut bool, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, false, ErrNetClosed
	}
	if n.cut[linkOf(from, to)] {
		return nil, true, nil
	}
	h = n.hosts[to]
	if h == nil || h.dead {
		return nil, false, fmt.Errorf("%w: dial %s: connection refused", structs.ErrUnreachable, to)
	}
	if forCall {
		n.wg.Add(1)
	}
	return h, false, nil
}

// Endpoint is one server's view of the Net: it implements server.Caller,
// federation.Caller and federation.Prober.
type Endpoint struct {
	n    *Net
	from structs.ServerAddr
	// mu guards waiting: per target, the channels CloseSession closes.
	mu      sync.Mutex
	waiting map[structs.ServerAddr]map[chan struct{}]struct{}
}

var (
	_ server.Caller     = (*Endpoint)(nil)
	_ federation.Caller = (*Endpoint)(nil)
	_ federation.Prober = (*Endpoint)(nil)
	_ rpcmux.Handler    = (*server.Server)(nil)
	_ server.Forwarder  = (*federation.Router)(nil)
)

// session registers a waiter on a session to addr, closed by
// CloseSession; release must be called when done.
func (e *Endpoint) session(addr structs.ServerAddr) (ch chan struct{}, release func()) {
	ch = make(chan struct{})
	e.mu.Lock()
	if e.waiting[addr] == nil {
		e.waiting[addr] = make(map[chan struct{}]struct{})
	}
	e.waiting[addr][ch] = struct{}{}
	e.mu.Unlock()
	return ch, func() {
		e.mu.Lock()
		delete(e.waiting[addr], ch)
		e.mu.Unlock()
	}
}

// lost waits like a call whose packets vanish: until ctx ends or the
// session is closed.
func (e *Endpoint) lost(ctx context.Context, closed <-chan struct{}) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-closed:
		return ErrSessionClosed
	}
}

// Call sends one call to addr and waits for its answer. The handler's
// error comes back as a *structs.RemoteError; a dead address fails with
// structs.ErrUnreachable; across a cut the call hangs until ctx ends or
// CloseSession. The datacenter is ignored: the in-memory net has no TLS.
func (e *Endpoint) Call(ctx context.Context, _ structs.Datacenter, addr structs.ServerAddr, method structs.Method, args, reply any) error {
	err := e.call(ctx, addr, method, args, reply)
	if err != nil {
		var re *structs.RemoteError
		if errors.As(err, &re) {
			return err
		}
		return fmt.Errorf("fedtest: call %s from %s to %s: %w", method, e.from, addr, err)
	}
	return nil
}

func (e *Endpoint) call(ctx context.Context, addr structs.ServerAddr, method structs.Method, args, reply any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	closed, release := e.session(addr)
	defer release()
	h, cut, err := e.n.route(e.from, addr, true)
	if err != nil {
		return err
	}
	if cut {
		return e.lost(ctx, closed)
	}
	hargs, hreply, ok := h.h.NewCall(method)
	if !ok {
		e.n.wg.Done()
		return structs.ToRemoteError(fmt.Errorf("%w: %q", structs.ErrUnknownMethod, method))
	}
	if err := e.n.copy(hargs, args); err != nil {
		e.n.wg.Done()
		return fmt.Errorf("encoding args: %w", err)
	}
	// The handler runs on its own goroutine, as on the server's side of a
	// stream: its ctx ends when the caller gives up.
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer e.n.wg.Done()
		h.served.Add(1)
		done <- h.h.RPC(hctx, method, hargs, hreply)
	}()
	select {
	case err := <-done:
		if e.n.IsCut(e.from, addr) {
			return e.lost(ctx, closed) // the answer is lost
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			return toRemote(err)
		}
		if err := e.n.copy(reply, hreply); err != nil {
			return fmt.Errorf("decoding reply: %w", err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-closed:
		return ErrSessionClosed
	}
}

// Stream runs a streaming method on addr's handler (which must be an
// rpcmux.StreamHandler), passing each frame through the wire codec into
// a fresh newFrame() for recv, on the caller's goroutine, as
// rpcmux.Pool.Stream does. The handler's error comes back as a
// *structs.RemoteError; recv's error is returned as is and cancels the
// handler; across a cut, frames are lost and the stream hangs until ctx
// ends or CloseSession.
func (e *Endpoint) Stream(ctx context.Context, _ structs.Datacenter, addr structs.ServerAddr, method structs.Method,
	args any, newFrame func() any, recv func(frame any) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	closed, release := e.session(addr)
	defer release()
	h, cut, err := e.n.route(e.from, addr, true)
	if err != nil {
		return fmt.Errorf("fedtest: stream %s from %s to %s: %w", method, e.from, addr, err)
	}
	if cut {
		return e.lost(ctx, closed)
	}
	sh, isStream := h.h.(rpcmux.StreamHandler)
	hargs, _, ok := h.h.NewCall(method)
	if !ok || !isStream {
		e.n.wg.Done()
		return structs.ToRemoteError(fmt.Errorf("%w: %q", structs.ErrUnknownMethod, method))
	}
	if err := e.n.copy(hargs, args); err != nil {
		e.n.wg.Done()
		return fmt.Errorf("encoding args: %w", err)
	}
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	frames := make(chan any)
	done := make(chan error, 1)
	go func() {
		defer e.n.wg.Done()
		h.served.Add(1)
		done <- sh.Stream(hctx, method, hargs, func(f any) error {
			if e.n.IsCut(e.from, addr) {
				return nil // lost on the way
			}
			out := newFrame()
			if err := e.n.copy(out, f); err != nil {
				return err
			}
			select {
			case frames <- out:
				return nil
			case <-hctx.Done():
				return hctx.Err()
			}
		})
	}()
	for {
		select {
		case f := <-frames:
			if err := recv(f); err != nil {
				return err
			}
		case err := <-done:
			if e.n.IsCut(e.from, addr) {
				return e.lost(ctx, closed)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				return toRemote(err)
			}
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-closed:
			return ErrSessionClosed
		}
	}
}

// toRemote is the error as it comes back over rpcmux.
func toRemote(err error) error {
	re := structs.ToRemoteError(err)
	if re.Code == "" {
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			re.Code = structs.CodeDeadlineExceeded
		case errors.Is(err, context.Canceled):
			re.Code = structs.CodeCanceled
		}
	}
	return re
}

// copy moves src into dst through the wire codec.
func (n *Net) copy(dst, src any) error {
	var buf bytes.Buffer
	if err := codec.NewEncoder(&buf, n.h).Encode(src); err != nil {
		return err
	}
	return codec.NewDecoder(&buf, n.h).Decode(dst)
}

// Ping measures a round trip to addr: the Net's RTT, or a hang across a
// cut, or structs.ErrUnreachable for a dead address. The datacenter is
// ignored, as in Call.
func (e *Endpoint) Ping(ctx context.Context, _ structs.Datacenter, addr structs.ServerAddr) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	closed, release := e.session(addr)
	defer release()
	_, cut, err := e.n.route(e.from, addr, false)
	if err != nil {
		return 0, fmt.Errorf("fedtest: ping %s from %s: %w", addr, e.from, err)
	}
	if cut {
		return 0, fmt.Errorf("fedtest: ping %s from %s: %w", addr, e.from, e.lost(ctx, closed))
	}
	return e.n.rtt, nil
}

// CloseSession fails every call and ping of this endpoint waiting on
// addr, and returns how many it failed.
func (e *Endpoint) CloseSession(addr structs.ServerAddr) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for ch := range e.waiting[addr] {
		close(ch)
		n++
	}
	delete(e.waiting, addr)
	return n
}

// closeAll fails everything waiting on this endpoint.
func (e *Endpoint) closeAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for addr, chs := range e.waiting {
		for ch := range chs {
			close(ch)
		}
		delete(e.waiting, addr)
	}
}
