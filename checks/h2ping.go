package checks

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"golang.org/x/net/http2"

	"consulate/structs"
)

// h2pingCheck opens an HTTP/2 connection (TLS with ALPN "h2", or h2c
// with prior knowledge when H2PingUseTLS is off) and sends a PING frame:
// an acknowledged ping is passing, anything else critical.
type h2pingCheck struct {
	id      string
	addr    string
	tlsConf *tls.Config // nil: h2c
	timeout time.Duration
	n       Notifier
}

func newH2PingCheck(id string, ct *structs.CheckType, interval time.Duration, n Notifier) (*h2pingCheck, error) {
	if _, _, err := net.SplitHostPort(ct.H2PING); err != nil {
		return nil, fmt.Errorf("%w: check %q: bad H2PING address %q: %v", ErrInvalidCheck, id, ct.H2PING, err)
	}
	c := &h2pingCheck{id: id, addr: ct.H2PING, timeout: httpTCPTimeout(ct.Timeout, interval), n: n}
	if ct.H2PingUseTLS {
		c.tlsConf = &tls.Config{
			InsecureSkipVerify: ct.TLSSkipVerify, //nolint:gosec // the user asked for it
			ServerName:         ct.TLSServerName,
			NextProtos:         []string{http2.NextProtoTLS},
		}
	}
	return c, nil
}

func (c *h2pingCheck) run(ctx context.Context) {
	err := c.probe(ctx)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		c.n.UpdateCheck(c.id, structs.HealthCritical, fmt.Sprintf("HTTP2 ping failed: %v", err))
		return
	}
	c.n.UpdateCheck(c.id, structs.HealthPassing, "HTTP2 ping was successful")
}

func (c *h2pingCheck) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	d := net.Dialer{}
	raw, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err
	}
	conn := raw
	if c.tlsConf != nil {
		cfg := c.tlsConf.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(c.addr)
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return err
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != http2.NextProtoTLS {
			tc.Close()
			return fmt.Errorf("server did not negotiate HTTP/2 (ALPN %q)", p)
		}
		conn = tc
	}
	tr := &http2.Transport{AllowHTTP: c.tlsConf == nil}
	cc, err := tr.NewClientConn(conn)
	if err != nil {
		conn.Close()
		return err
	}
	defer cc.Close()
	return cc.Ping(ctx)
}
