// Package connlimit counts open connections per client IP and caps them:
// rpc_max_conns_per_client on the server port, http_max_conns_per_client
// on the HTTP API. A connection admitted gives its slot back on its first
// Close, whoever closes it.
package connlimit

import (
	"net"
	"sync"
)

// Limiter counts the open connections of each client IP. It is safe for
// concurrent use.
type Limiter struct {
	max int // 0: unlimited

	// mu guards perIP and total.
	mu    sync.Mutex
	perIP map[string]int
	total int
}

// New returns a Limiter allowing max open connections per client IP; 0
// counts them without a cap.
func New(max int) *Limiter { return &Limiter{max: max, perIP: make(map[string]int)} }

// Max is the cap (0: none).
func (l *Limiter) Max() int { return l.max }

// Acquire counts c against its client IP. When the IP is at the cap it
// returns ok false (c is left open, for the caller to refuse as its
// protocol does); otherwise the returned connection, to be used instead
// of c, frees the slot when first closed. A connection without an IP (a
// Unix socket) is not counted. ip is the client IP ("" when none).
func (l *Limiter) Acquire(c net.Conn) (conn net.Conn, ip string, ok bool) {
	ip, counted := ClientIP(c)
	if !counted {
		return c, "", true
	}
	l.mu.Lock()
	if l.max > 0 && l.perIP[ip] >= l.max {
		l.mu.Unlock()
		return nil, ip, false
	}
	l.perIP[ip]++
	l.total++
	l.mu.Unlock()
	return &countedConn{Conn: c, release: func() { l.release(ip) }}, ip, true
}

func (l *Limiter) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP[ip] <= 1 {
		delete(l.perIP, ip)
	} else {
		l.perIP[ip]--
	}
	l.total--
}

// Open is how many counted connections are open.
func (l *Limiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// ClientIP is the IP of c's remote end; counted is false for a Unix
// socket or a connection without a remote address. An address without a
// port counts as a whole.
func ClientIP(c net.Conn) (ip string, counted bool) {
	switch a := c.RemoteAddr().(type) {
	case nil:
		return "", false
	case *net.TCPAddr:
		return a.IP.String(), true
	case *net.UnixAddr:
		return "", false
	}
	s := c.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host, true
	}
	return s, s != ""
}

// countedConn gives its client IP's slot back when it is first closed.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and frees its slot.
func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
