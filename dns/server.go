package dns

import (
	"consulate/internal/waitctx"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/miekg/dns"
)

// Server answers DNS queries for the Consul domain. It is a dns.Handler;
// Start binds it to UDP and TCP sockets.
type Server struct {
	cfg      Config
	backend  Backend
	logger   *slog.Logger
	domain   string // lower-case FQDN
	alt      string // lower-case FQDN or ""
	ttl      ttlTable
	nodeTTL  uint32
	recurse  []string // ip:port
	queryExe QueryExecutor

	// ctx is cancelled by Shutdown so lookups in flight give up.
	ctx    context.Context
	cancel context.CancelFunc
	// waiting counts the lookups waiting on the backend, against
	// cfg.MaxWaitingLookups.
	waiting waitLimit
	// answers are the replies kept ready to send (packed.go), when the
	// backend tracks its reads (tracked).
	answers answerCache
	tracked bool
	// nodeLabel labels the query timers with this node, as Consul does.
	nodeLabel []gometrics.Label

	// mu guards the listeners' lifecycle.
	mu       sync.Mutex
	servers  []*dns.Server
	udpAddr  net.Addr
	tcpAddr  net.Addr
	wg       sync.WaitGroup
	started  bool
	shutdown bool
}

var _ dns.Handler = (*Server)(nil)

// ErrServerClosed is returned by Start after Shutdown.
var ErrServerClosed = errors.New("dns: server shut down")

// ErrAlreadyStarted is returned by a second Start.
var ErrAlreadyStarted = errors.New("dns: server already started")

// New builds a server over backend. It validates cfg; logger may be nil.
func New(cfg Config, backend Backend, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if backend == nil {
		return nil, fmt.Errorf("%w: backend is required", ErrInvalidConfig)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:      cfg,
		backend:  backend,
		logger:   logger.With("component", "dns"),
		domain:   normDomain(cfg.Domain),
		ttl:      newTTLTable(cfg.ServiceTTL),
		nodeTTL:  seconds(cfg.NodeTTL),
		queryExe: cfg.QueryExecutor,
	}
	_, s.tracked = backend.(Tracker)
	s.nodeLabel = []gometrics.Label{{Name: "node", Value: cfg.NodeName}}
	if cfg.AltDomain != "" {
		s.alt = normDomain(cfg.AltDomain)
	}
	for _, r := range cfg.Recursors {
		a, _ := recursorAddr(r) // checked by Validate
		s.recurse = append(s.recurse, a)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.waiting.max = int64(cfg.MaxWaitingLookups)
	return s, nil
}

// Start listens on udpAddr and tcpAddr ("" skips that transport) and
// returns once both are bound and serving.
func (s *Server) Start(udpAddr, tcpAddr string) error {
	if udpAddr == "" && tcpAddr == "" {
		return fmt.Errorf("%w: no address to listen on", ErrInvalidConfig)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.shutdown:
		return ErrServerClosed
	case s.started:
		return ErrAlreadyStarted
	}

	var pc net.PacketConn
	var ln net.Listener
	var err error
	if udpAddr != "" {
		if pc, err = net.ListenPacket("udp", udpAddr); err != nil {
			return fmt.Errorf("dns: listen udp %s: %w", udpAddr, err)
		}
	}
	if tcpAddr != "" {
		if ln, err = net.Listen("tcp", tcpAddr); err != nil {
			if pc != nil {
				pc.Close()
			}
			return fmt.Errorf("dns: listen tcp %s: %w", tcpAddr, err)
		}
	}

	type result struct{ err error }
	results := make(chan result, 2)
	serve := func(srv *dns.Server) {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		s.wg.Add(1)
		done := make(chan error, 1)
		go func() {
			defer s.wg.Done()
			done <- srv.ActivateAndServe()
		}()
		select {
		case <-started:
			results <- result{}
		case err := <-done:
			results <- result{fmt.Errorf("dns: serve: %w", err)}
		}
	}
	n := 0
	if pc != nil {
		srv := &dns.Server{PacketConn: pc, Handler: s, UDPSize: 4096}
		s.servers = append(s.servers, srv)
		s.udpAddr = pc.LocalAddr()
		go serve(srv)
		n++
	}
	if ln != nil {
		srv := &dns.Server{Listener: ln, Handler: s,
			ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
		s.servers = append(s.servers, srv)
		s.tcpAddr = ln.Addr()
		go serve(srv)
		n++
	}
	s.started = true
	var first error
	for range n {
		if r := <-results; r.err != nil && first == nil {
			first = r.err
		}
	}
	if first != nil {
		s.shutdown = true
		s.stopLocked(context.Background())
		return first
	}
	s.logger.Info("dns server started", "udp", addrString(s.udpAddr), "tcp", addrString(s.tcpAddr))
	return nil
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// Addrs returns the bound UDP and TCP addresses (nil for a transport not
// started), so callers that asked for port 0 learn the real port.
func (s *Server) Addrs() (udp, tcp net.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.udpAddr, s.tcpAddr
}

// Shutdown stops the listeners, cancels lookups in flight and waits for the
// serving goroutines. It is safe to call more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return nil
	}
	s.shutdown = true
	return s.stopLocked(ctx)
}

func (s *Server) stopLocked(ctx context.Context) error {
	s.cancel()
	var first error
	for _, srv := range s.servers {
		if err := srv.ShutdownContext(ctx); err != nil && first == nil {
			first = err
		}
	}
	s.servers = nil
	if err := waitctx.Wait(ctx, &s.wg); err != nil && first == nil {
		first = err
	}
	return first
}
