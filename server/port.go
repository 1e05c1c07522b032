package server

import (
	"context"
	"errors"
	"io"
	"net"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"consulate/rpcmux"
)

// The server is the handler of its own port: rpcmux decodes each call off
// the wire with NewCall and runs it with RPC.
var _ rpcmux.Handler = (*Server)(nil)

// Its answers name the leader it knows.
var _ rpcmux.LeaderHinter = (*Server)(nil)

// newPortTransport is Raft's transport over the server port's Raft layer
// (the first byte of a connection picks Raft).
func newPortTransport(mux *rpcmux.Mux) raft.Transport {
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  mux.RaftLayer(),
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  hclog.New(&hclog.LoggerOptions{Name: "raft-net", Output: io.Discard}),
	})
}

// servePort starts accepting on the server port, if there is one. Called
// from Start once Raft runs.
func (s *Server) servePort() {
	if s.mux == nil {
		return
	}
	s.portDone = make(chan struct{})
	go func() {
		defer close(s.portDone)
		if err := s.mux.Serve(s.ln); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, rpcmux.ErrClosed) {
			s.logger.Error("server port stopped", "error", err)
		}
	}()
}

// closePort stops the server port and waits (within ctx) for its accept
// loop; a listener that was never served is closed here.
func (s *Server) closePort(ctx context.Context) {
	if s.mux == nil {
		return
	}
	_ = s.mux.Shutdown(ctx)
	if s.portDone == nil {
		_ = s.ln.Close()
		return
	}
	select {
	case <-s.portDone:
	case <-ctx.Done():
	}
}

// PortStats are the server port's counters (connections, refusals,
// handshake timeouts); zero without a port.
func (s *Server) PortStats() rpcmux.MuxStats {
	if s.mux == nil {
		return rpcmux.MuxStats{}
	}
	return s.mux.Stats()
}
