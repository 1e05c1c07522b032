package rpcmux

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"
)

// clientTLS wraps a freshly dialed conn in TLS the way the server port
// expects: RPCTLS in plaintext, the TLS handshake, then the inner
// protocol byte inside TLS. ctx bounds all of it. On error conn is
// closed.
func clientTLS(ctx context.Context, conn net.Conn, cfg *tls.Config, addr string, inner RPCType) (net.Conn, error) {
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		cfg = cfg.Clone()
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		} else {
			cfg.ServerName = addr
		}
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write([]byte{byte(RPCTLS)}); err != nil {
		conn.Close()
		return nil, err
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	if _, err := tc.Write([]byte{byte(inner)}); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return tc, nil
}

// serverTLS runs the server side of the handshake on conn, whose read
// deadline (the preamble's) already runs; the write deadline is set to
// match so that a peer that never reads cannot stall it either.
func serverTLS(conn net.Conn, cfg *tls.Config, deadline time.Time) (*tls.Conn, error) {
	_ = conn.SetWriteDeadline(deadline)
	tc := tls.Server(conn, cfg)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	_ = conn.SetWriteDeadline(time.Time{})
	return tc, nil
}
