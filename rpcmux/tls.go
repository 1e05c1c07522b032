package rpcmux

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"consulate/structs"
)

// clientTLS wraps a freshly dialed conn in TLS the way the server port
// expects: RPCTLS in plaintext, the TLS handshake, then the inner
// protocol byte inside TLS. ctx bounds all of it. On error conn is
// closed.
// clientPlain announces protocol t on a plaintext connection, bounded by
// ctx's deadline; on error conn is closed.
func clientPlain(ctx context.Context, conn net.Conn, t RPCType) (net.Conn, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetWriteDeadline(dl)
	}
	if _, err := conn.Write([]byte{byte(t)}); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetWriteDeadline(time.Time{})
	return conn, nil
}

func clientTLS(ctx context.Context, conn net.Conn, cfg *tls.Config, addr string, inner RPCType) (net.Conn, error) {
	return clientTLSWith(ctx, conn, cfg, addr, RPCTLS, inner)
}

// clientTLSWith is clientTLS opening with outer (RPCTLS or
// RPCTLSInsecure).
func clientTLSWith(ctx context.Context, conn net.Conn, cfg *tls.Config, addr string, outer, inner RPCType) (net.Conn, error) {
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
	if _, err := conn.Write([]byte{byte(outer)}); err != nil {
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

// CallInsecure makes one call to the server port at addr over TLS without
// a client certificate (RPCTLSInsecure, then plain RPC): auto_encrypt's
// way to ask for a certificate before the agent has one. cfg must verify
// the server. src, when not nil or unspecified, is the local address
// dialed from. ctx bounds the whole call.
func CallInsecure(ctx context.Context, addr string, cfg *tls.Config, src net.IP, method structs.Method, args, reply any) error {
	if cfg == nil {
		return errors.New("rpcmux: CallInsecure needs a TLS config")
	}
	timeout := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	raw, err := dialer(src, timeout).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("%w: %w", structs.ErrUnreachable, err)
	}
	conn, err := clientTLSWith(ctx, raw, cfg, addr, RPCTLSInsecure, RPCPlain)
	if err != nil {
		return fmt.Errorf("%w: %w", structs.ErrUnreachable, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c := newWireCodec(DefaultMaxMessageSize)
	hdr := requestHeader{Method: method, Seq: 1}
	if dl, ok := ctx.Deadline(); ok {
		hdr.Timeout = max(int64(time.Until(dl)), 1)
	}
	if err := c.writeFrame(conn, &hdr, args); err != nil {
		return ctxOr(ctx, err)
	}
	payload, err := c.readFrame(conn)
	if err != nil {
		return ctxOr(ctx, err)
	}
	dec := c.decoder(payload)
	defer dec.release()
	var rh responseHeader
	if err := dec.decode(&rh); err != nil {
		return fmt.Errorf("%w: malformed reply header: %v", ErrProtocol, err)
	}
	if rh.Error != nil {
		return fromRemote(rh.Error)
	}
	if err := dec.decode(reply); err != nil {
		return fmt.Errorf("%w: decoding reply: %v", ErrProtocol, err)
	}
	return nil
}

// ctxOr returns ctx's error when it has one, err otherwise.
func ctxOr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}
