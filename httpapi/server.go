package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"

	"consulate/internal/connlimit"
)

// Server is the HTTP API server.
type Server struct {
	cfg     Config
	agent   Agent
	logger  *slog.Logger
	handler http.Handler
	conns   *connlimit.Limiter
	// memo keeps the encoded bodies of view-served health reads (memo.go);
	// nil keeps none.
	memo *bodyMemo
	// drain is cancelled when Shutdown starts: it ends the requests that
	// would otherwise hold Shutdown up to their wait (blocking queries,
	// monitor streams), see releaseOnShutdown.
	drain     context.Context
	stopDrain context.CancelFunc

	mu        sync.Mutex
	servers   []*http.Server
	listeners []net.Listener
	limited   []*limitListener
	shutdown  bool
	wg        sync.WaitGroup
}

// New validates cfg and builds a Server over agent. A nil logger discards
// the logs.
func New(cfg Config, agent Agent, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if agent == nil {
		return nil, fmt.Errorf("%w: nil Agent", ErrInvalidConfig)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, agent: agent, logger: logger.With("component", "http"), memo: newBodyMemo()}
	s.drain, s.stopDrain = context.WithCancel(context.Background())
	s.handler = s.releaseOnShutdown(s.withHTTPConfig(s.routes()))
	s.conns = connlimit.New(cfg.MaxConnsPerClient)
	return s, nil
}

// Handler returns the API's handler (its own router, never
// http.DefaultServeMux), e.g. for httptest.
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens on each address ("host:port", or "unix:/path") and serves
// plain HTTP until Shutdown. On error, listeners already opened are
// closed.
func (s *Server) Start(addrs []string) error { return s.start(addrs, false) }

// StartHTTPS listens on each address and serves HTTPS, with the same
// handlers and limits, until Shutdown. Config.HTTPSConfig must be set; it
// is asked for the TLS config at each handshake, so a reload applies to
// new connections. The handshake is bounded by ReadHeaderTimeout.
func (s *Server) StartHTTPS(addrs []string) error {
	if s.cfg.HTTPSConfig == nil {
		return fmt.Errorf("%w: HTTPS addresses without HTTPSConfig", ErrInvalidConfig)
	}
	return s.start(addrs, true)
}

func (s *Server) start(addrs []string, useTLS bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return errors.New("httpapi: server is shut down")
	}
	var opened []net.Listener
	for _, a := range addrs {
		network, addr := "tcp", a
		if p, ok := strings.CutPrefix(a, "unix:"); ok {
			network, addr = "unix", strings.TrimPrefix(p, "//")
			// A socket left by a crash would block the restart.
			if err := os.Remove(addr); err != nil && !errors.Is(err, os.ErrNotExist) {
				for _, l := range opened {
					l.Close()
				}
				return fmt.Errorf("httpapi: removing stale socket %s: %w", addr, err)
			}
		}
		ln, err := net.Listen(network, addr)
		if err == nil && network == "unix" {
			if err = s.setSocketPerms(addr); err != nil {
				ln.Close()
			}
		}
		if err != nil {
			for _, l := range opened {
				l.Close()
			}
			return fmt.Errorf("httpapi: listen on %s: %w", a, err)
		}
		opened = append(opened, ln)
	}
	var tlsCfg *tls.Config
	proto := "HTTP"
	if useTLS {
		tlsCfg, proto = httpsConfig(s.cfg.HTTPSConfig), "HTTPS"
	}
	for _, ln := range opened {
		hs := &http.Server{
			Handler:           s.handler,
			ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
			IdleTimeout:       s.cfg.IdleTimeout,
			MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
			TLSConfig:         tlsCfg,
		}
		ll := &limitListener{Listener: ln, limits: s.conns, tls: tlsCfg, logger: s.logger}
		s.servers = append(s.servers, hs)
		s.listeners = append(s.listeners, ln)
		s.limited = append(s.limited, ll)
		s.wg.Add(1)
		go func(hs *http.Server, ln net.Listener) {
			defer s.wg.Done()
			s.logger.Info(proto+" API listening", "address", ln.Addr().String())
			var err error
			if useTLS {
				err = hs.ServeTLS(ll, "", "")
			} else {
				err = hs.Serve(ll)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.logger.Error(proto+" server stopped", "address", ln.Addr().String(), "error", err)
			}
		}(hs, ln)
	}
	return nil
}

// Addrs returns the addresses being served (useful after listening on
// port 0).
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Addr, 0, len(s.listeners))
	for _, l := range s.listeners {
		out = append(out, l.Addr())
	}
	return out
}

// Shutdown stops accepting, lets in-flight requests finish until ctx is
// done (then closes them), and waits for the serving goroutines while
// ctx allows. It is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopDrain()
	s.mu.Lock()
	s.shutdown = true
	servers := s.servers
	s.servers = nil
	s.mu.Unlock()
	var firstErr error
	for _, hs := range servers {
		if err := hs.Shutdown(ctx); err != nil {
			hs.Close()
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	s.mu.Lock()
	limited := s.limited
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		for _, ll := range limited {
			ll.rejecting.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		if firstErr == nil {
			firstErr = ctx.Err()
		}
	}
	return firstErr
}

// errDraining is the cause of a long-held request's context when Shutdown
// ends it: serve answers such a request 503 "Agent is shutting down", a
// status clients retry (elsewhere), rather than a 500.
var errDraining = errors.New("Agent is shutting down")

// releaseOnShutdown gives long-held requests (blocking queries, with
// ?index=, and /v1/agent/monitor streams) a context that also ends when
// Shutdown starts, so that a leaving agent answers them at once instead of
// keeping its clients (and Shutdown) waiting up to their wait time. Other
// requests finish normally: a write in flight still gets its answer.
func (s *Server) releaseOnShutdown(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// RawQuery is looked at before it is parsed: this runs on every
		// request, and most carry no index.
		blocking := strings.Contains(r.URL.RawQuery, "index") && r.URL.Query().Has("index")
		if !blocking && r.URL.Path != "/v1/agent/monitor" {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancelCause(r.Context())
		defer cancel(nil)
		stop := context.AfterFunc(s.drain, func() { cancel(errDraining) })
		defer stop()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
