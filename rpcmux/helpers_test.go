package rpcmux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"consulate/structs"
)

// echoArgs exercises the types the codec must round-trip.
type echoArgs struct {
	S   string
	D   time.Duration
	T   time.Time
	B   []byte
	M   map[string]string
	L   []string
	Ptr *int
}

type errArgs struct{ Kind string }

type sizeArgs struct{ N int }

type blockArgs struct{}

// holdQuery is a blocking query (MinQueryIndex set) that Test.HoldQuery
// keeps until release, like a server's blocking read.
type holdQuery struct {
	structs.QueryOptions
}

// testHandler is a Handler with a few methods for the tests.
type testHandler struct {
	calls      atomic.Int64
	inFlight   atomic.Int64
	maxFlight  atomic.Int64
	blockCtxCh chan context.Context // receives the ctx of Test.Block calls
	release    chan struct{}        // Test.Hold waits on it
}

func newTestHandler() *testHandler {
	return &testHandler{blockCtxCh: make(chan context.Context, 16), release: make(chan struct{})}
}

func (h *testHandler) NewCall(method structs.Method) (any, any, bool) {
	switch method {
	case "Test.Echo":
		return &echoArgs{}, &echoArgs{}, true
	case "Test.Error":
		return &errArgs{}, &struct{}{}, true
	case "Test.Panic":
		return &struct{}{}, &struct{}{}, true
	case "Test.Block", "Test.Hold":
		return &blockArgs{}, &struct{}{}, true
	case "Test.HoldQuery":
		return &holdQuery{}, &struct{}{}, true
	case "Test.Big":
		return &sizeArgs{}, &[]byte{}, true
	case "Test.Deadline":
		return &struct{}{}, new(int64), true
	}
	return nil, nil, false
}

func (h *testHandler) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	h.calls.Add(1)
	n := h.inFlight.Add(1)
	defer h.inFlight.Add(-1)
	for {
		m := h.maxFlight.Load()
		if n <= m || h.maxFlight.CompareAndSwap(m, n) {
			break
		}
	}
	switch method {
	case "Test.Echo":
		*reply.(*echoArgs) = *args.(*echoArgs)
		return nil
	case "Test.Error":
		switch args.(*errArgs).Kind {
		case "noleader":
			return fmt.Errorf("forwarding: %w", structs.ErrNoLeader)
		case "unknowndc":
			return &structs.ErrUnknownDC{DC: "dc9", Known: []string{"dc1", "dc2"}}
		case "bad":
			return &structs.BadRequestError{Reason: "missing node name"}
		case "notfound":
			return structs.ErrNotFound
		default:
			return errors.New("plain failure")
		}
	case "Test.Panic":
		// A runtime error, as a real handler bug would raise, not a
		// panic(value) the handler chose.
		var m map[string]int
		//lint:ignore SA5000 the handler panics on purpose (see above).
		m["boom"] = 1
		return nil
	case "Test.Block":
		h.blockCtxCh <- ctx
		<-ctx.Done()
		return ctx.Err()
	case "Test.Hold", "Test.HoldQuery":
		select {
		case <-h.release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	case "Test.Big":
		*reply.(*[]byte) = make([]byte, args.(*sizeArgs).N)
		return nil
	case "Test.Deadline":
		dl, ok := ctx.Deadline()
		if ok {
			*reply.(*int64) = dl.UnixNano()
		}
		return nil
	}
	return fmt.Errorf("unreachable method %s", method)
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("RPCMUX_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.HandshakeTimeout = 2 * time.Second
	cfg.KeepAliveInterval = time.Second
	cfg.ConnectionWriteTimeout = 2 * time.Second
	return cfg
}

func testPoolConfig() PoolConfig {
	cfg := DefaultPoolConfig()
	cfg.DialTimeout = 2 * time.Second
	cfg.KeepAliveInterval = time.Second
	cfg.ConnectionWriteTimeout = 2 * time.Second
	return cfg
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	accepted atomic.Int64

	mu      sync.Mutex
	remotes []string // remote IPs of accepted connections, in order
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
		if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			l.mu.Lock()
			l.remotes = append(l.remotes, ta.IP.String())
			l.mu.Unlock()
		}
	}
	return c, err
}

// remoteIPs returns the source IPs of the connections accepted so far.
func (l *countingListener) remoteIPs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.remotes...)
}

// testServer is a Mux serving on a loopback listener.
type testServer struct {
	mux     *Mux
	h       *testHandler
	ln      *countingListener
	addr    structs.ServerAddr
	serveCh chan error
}

func startServer(t testing.TB, cfg Config, h *testHandler, addr string) *testServer {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &testServer{mux: mustMux(t, cfg, h), h: h, ln: &countingListener{Listener: ln}, addr: structs.ServerAddr(ln.Addr().String()), serveCh: make(chan error, 1)}
	go func() { s.serveCh <- s.mux.Serve(s.ln) }()
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *testServer) stop(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dump := time.AfterFunc(3*time.Second, func() { _ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1) })
	t0 := time.Now()
	if err := s.mux.Shutdown(ctx); err != nil {
		t.Errorf("mux shutdown: %v after %v", err, time.Since(t0))
	}
	dump.Stop()
	select {
	case err := <-s.serveCh:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Serve returned %v, want ErrClosed", err)
		}
		s.serveCh <- ErrClosed // let a second stop pass
	case <-ctx.Done():
		t.Errorf("Serve did not return after Shutdown")
	}
}

func newTestPool(t testing.TB, cfg PoolConfig) *Pool {
	p := mustPool(t, cfg, testLogger(t))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("pool shutdown: %v", err)
		}
	})
	return p
}

// pipePool returns a Pool whose session to addr "pipe" runs over
// net.Pipe, served by m; no sockets involved.
func pipePool(t testing.TB, m *Mux, cfg PoolConfig) *Pool {
	t.Helper()
	p := newTestPool(t, cfg)
	cli, srv := net.Pipe()
	if !m.track(srv) {
		t.Fatal("mux already shut down")
	}
	m.wg.Go(func() { m.serveSession(&preambleConn{Conn: srv}, "pipe") })
	ys, err := yamux.Client(cli, p.yamux)
	if err != nil {
		t.Fatalf("yamux client: %v", err)
	}
	key := sessKey{addr: "pipe", lane: laneShort}
	s := &session{key: key, ys: ys, maxIdle: p.cfg.MaxIdleStreams, limit: p.cfg.MaxCallsPerSession, lastUsed: time.Now()}
	p.mu.Lock()
	p.addrs[key] = &addrState{sess: s}
	p.mu.Unlock()
	p.wg.Go(func() { p.watch(s) })
	return p
}

func newPipeMux(t testing.TB, cfg Config, h Handler) *Mux {
	m := mustMux(t, cfg, h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("mux shutdown: %v", err)
		}
	})
	return m
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var errUnexpectedEOF = io.ErrUnexpectedEOF

// mustMux is New with the test's logger; an invalid cfg fails the test.
func mustMux(t testing.TB, cfg Config, h Handler) *Mux {
	t.Helper()
	m, err := New(cfg, h, testLogger(t))
	if err != nil {
		t.Fatalf("rpcmux.New: %v", err)
	}
	return m
}

// mustPool is NewPool; an invalid cfg fails the test.
func mustPool(t testing.TB, cfg PoolConfig, logger *slog.Logger) *Pool {
	t.Helper()
	p, err := NewPool(cfg, logger)
	if err != nil {
		t.Fatalf("rpcmux.NewPool: %v", err)
	}
	return p
}
