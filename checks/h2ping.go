package checks

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"time"

	"golang.org/x/net/http2"

	"consulate/structs"
)

// h2pingCheck opens an HTTP/2 connection (TLS with ALPN "h2", or h2c
// with prior knowledge when H2PingUseTLS is off) and sends a PING frame
// (golang.org/x/net/http2's framer): an acknowledged ping is passing,
// anything else critical.
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
	c := &h2pingCheck{id: id, addr: ct.H2PING, timeout: timeoutOr(ct.Timeout, DefaultHTTPTCPTimeout), n: n}
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
	defer conn.Close()
	return h2Ping(ctx, conn)
}

// h2PingMaxFrames bounds the frames read while waiting for the PING ack.
const h2PingMaxFrames = 64

// h2Ping speaks just enough HTTP/2 on conn to send a PING and wait for its
// acknowledgement: the client preface, an empty SETTINGS, the PING, then
// frames until the matching ack (answering the server's SETTINGS), a
// GOAWAY, an error or ctx's deadline.
func h2Ping(ctx context.Context, conn net.Conn) error {
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return err
		}
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		return err
	}
	fr := http2.NewFramer(conn, conn)
	if err := fr.WriteSettings(); err != nil {
		return err
	}
	var data [8]byte
	if _, err := rand.Read(data[:]); err != nil {
		return err
	}
	if err := fr.WritePing(false, data); err != nil {
		return err
	}
	for range h2PingMaxFrames {
		f, err := fr.ReadFrame()
		if err != nil {
			return err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := fr.WriteSettingsAck(); err != nil {
					return err
				}
			}
		case *http2.PingFrame:
			if f.IsAck() && f.Data == data {
				return nil
			}
			if !f.IsAck() {
				if err := fr.WritePing(true, f.Data); err != nil {
					return err
				}
			}
		case *http2.GoAwayFrame:
			return fmt.Errorf("server sent GOAWAY (%v)", f.ErrCode)
		}
	}
	return fmt.Errorf("no PING acknowledgement in %d frames", h2PingMaxFrames)
}
