package httpapi

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"consulate/internal/connlimit"
)

// tooManyConns is the answer to a connection over the limit, sent before
// reading anything from it, as Consul's.
const tooManyConns = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 36\r\nConnection: close\r\n\r\nToo many connections from this client"

// rejectTimeout bounds the time spent on a refused connection (TLS
// handshake, the 429, draining what the client sent).
const rejectTimeout = 2 * time.Second

// limitListener hands out only the connections within the per-client
// limit; the others get a 429 and are closed without reaching the HTTP
// server.
type limitListener struct {
	net.Listener
	limits *connlimit.Limiter
	// tls, for an HTTPS listener, is used to speak the 429 over TLS.
	tls       *tls.Config
	logger    *slog.Logger
	rejecting sync.WaitGroup
}

// Accept returns the next connection within the limit.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		counted, ip, ok := l.limits.Acquire(c)
		if ok {
			return counted, nil
		}
		l.logger.Warn("too many connections from client, refusing with 429", "client", ip, "limit", l.limits.Max())
		l.rejecting.Add(1)
		go func() {
			defer l.rejecting.Done()
			reject(c, l.tls)
		}()
	}
}

// reject answers 429 on c (over TLS when cfg is set), half-closes it and
// reads what the client sent until it closes or rejectTimeout passes, so
// the close does not reset the connection before the client reads the
// answer.
func reject(c net.Conn, cfg *tls.Config) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(rejectTimeout))
	var w io.Writer = c
	if cfg != nil {
		tc := tls.Server(c, cfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		w = tc
		defer tc.Close()
	}
	if _, err := io.WriteString(w, tooManyConns); err != nil {
		return
	}
	if cw, ok := w.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	var r io.Reader = c
	if tc, ok := w.(*tls.Conn); ok {
		r = tc
	}
	io.Copy(io.Discard, io.LimitReader(r, 64<<10))
}

// errNoHTTPSConfig fails a TLS handshake while HTTPSConfig returns nil.
var errNoHTTPSConfig = errors.New("httpapi: no HTTPS configuration")

// httpsConfig is the listener's TLS config: every handshake takes the
// current config from get, so a reload applies to new connections only.
func httpsConfig(get func() *tls.Config) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c := get()
			if c == nil {
				return nil, errNoHTTPSConfig
			}
			if len(c.NextProtos) == 0 {
				c = c.Clone()
				c.NextProtos = []string{"h2", "http/1.1"}
			}
			return c, nil
		},
	}
}
