package rpcmux

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/hashicorp/yamux"

	"consulate/structs"
)

// ErrInvalidConfig is wrapped by every error Config.Validate and
// PoolConfig.Validate return, and so by New and NewPool.
var ErrInvalidConfig = errors.New("rpcmux: invalid config")

// DefaultMaxMessageSize bounds one request or reply on the wire.
const DefaultMaxMessageSize = 8 << 20

// DefaultMaxStreamsPerSession is the server's default cap on concurrent
// streams in one yamux session. A stream that waits in a blocking query
// costs a goroutine pair and a few KiB (yamux grows a stream's receive
// buffer only as data arrives), so thousands per session are cheap.
const DefaultMaxStreamsPerSession = 4096

// DefaultMaxCallsPerSession is the pool's default for calls on one
// session before it opens another one to the same server. It stays well
// below DefaultMaxStreamsPerSession, which also counts idle streams.
const DefaultMaxCallsPerSession = 2048

// Config tunes the server side (Mux).
type Config struct {
	// AdvertiseAddr is what RaftLayer.Addr reports: the address other
	// servers dial for Raft. If nil, the listener's address is used.
	AdvertiseAddr net.Addr
	// HandshakeTimeout bounds a new connection's whole preamble, counted
	// from accept: the protocol byte, then for plain RPC the first
	// request frame and for a multiplexed session the first yamux frame.
	// A connection that has not finished it by then is closed.
	HandshakeTimeout time.Duration
	// MaxConnsPerClient caps the connections one client IP may hold open
	// on the port at once (Consul's rpc_max_conns_per_client); 0 means
	// unlimited. A connection over the cap is closed as soon as it is
	// accepted.
	MaxConnsPerClient int
	// MaxStreamsPerSession caps the streams one yamux session may have
	// open at once; a stream over the cap is refused with
	// ErrTooManyStreams. Idle streams a client keeps for reuse count too.
	MaxStreamsPerSession int
	// PlainIdleTimeout closes a plain RPC connection that has no call in
	// progress and sends nothing for this long.
	PlainIdleTimeout time.Duration
	// MaxMessageSize bounds one request frame; larger ones are refused
	// with ErrMessageTooLarge and the connection or stream is closed.
	MaxMessageSize int
	// KeepAliveInterval is the yamux keepalive period on inbound sessions.
	KeepAliveInterval time.Duration
	// ConnectionWriteTimeout is yamux's safety valve for stuck writes.
	ConnectionWriteTimeout time.Duration
	// AcceptBacklog bounds yamux streams waiting to be accepted per
	// session; yamux resets a stream that finds it full. New raises it to
	// MaxStreamsPerSession if smaller, so that a burst of streams the cap
	// admits is never reset by the backlog instead.
	AcceptBacklog int
	// SourceAddr is the local IP that outgoing Raft connections are dialed
	// from (Consul's RPC source address: the agent's bind address). Nil or
	// unspecified lets the kernel choose.
	SourceAddr net.IP
	// TLS returns the config a connection opening with RPCTLS is served
	// with; it is called once per such connection, so a reload takes
	// effect for new connections only. Nil, or returning nil, means TLS
	// is not configured and such a connection is refused.
	TLS func() *tls.Config
	// RequireTLS reports whether plaintext is refused (verify_incoming):
	// when it returns true, a connection opening with RPCPlain, RPCRaft,
	// RPCMultiplex or RPCGossip is closed with a log line saying why. Nil
	// means false.
	RequireTLS func() bool
	// RaftDialTLS returns the config outgoing Raft connections (to the
	// servers of this datacenter) use; nil, or returning nil, nil, means
	// plaintext. An error fails the dial: it never falls back to
	// plaintext.
	RaftDialTLS func() (*tls.Config, error)
	// VerifyRaftPeer, when set, checks the TLS state of an incoming Raft
	// connection (only servers speak Raft): an error refuses it, with a
	// log line. verify_server_hostname uses it so that a client
	// certificate cannot pose as a server.
	VerifyRaftPeer func(tls.ConnectionState) error
	// VerifyGossipPeer, when set, checks the TLS state of an incoming
	// RPCGossip connection inside TLS (servers of any datacenter send
	// it): an error refuses it, with a log line. verify_server_hostname
	// uses it so that a client certificate cannot inject WAN gossip.
	VerifyGossipPeer func(tls.ConnectionState) error
	// InsecureTLS returns the config a connection opening with
	// RPCTLSInsecure is served with: the server's certificate and no
	// client certificate asked for. Nil, or returning nil, refuses such
	// connections. RequireTLS does not refuse them: they are TLS.
	InsecureTLS func() *tls.Config
	// InsecureAllowed reports the methods served on an RPCTLSInsecure
	// connection; any other is answered with structs.ErrPermissionDenied.
	// Nil allows none.
	InsecureAllowed func(structs.Method) bool
	// Gossip, when set, serves connections opening with RPCGossip (plain,
	// or inside RPCTLS): it gets the connection after the protocol byte,
	// owns it from then on and must close it. The handshake read
	// deadline is still set on it; the handler clears it once its own
	// preamble is read. It runs on the connection's goroutine, and
	// Shutdown closes the connection if it is still open then (and waits
	// for the handler: the conn has a Closed() <-chan struct{} method
	// that a handler blocked elsewhere selects on to return). Nil
	// refuses RPCGossip as an unknown byte.
	Gossip func(conn net.Conn)
	// LimitExempt, when set, reports client IPs that MaxConnsPerClient
	// does not apply to (the local federation gateways, which carry every
	// other datacenter's connections from one IP). Their connections are
	// still counted in MuxStats.Conns, and capped by
	// MaxConnsPerExemptClient instead. It is called once per accepted
	// connection and must not block.
	LimitExempt func(ip net.IP) bool
	// MaxConnsPerExemptClient caps the connections one IP that
	// LimitExempt exempts may hold open: large, since a gateway carries
	// every other datacenter's connections, but finite. 0 means
	// DefaultExemptConnsFactor × MaxConnsPerClient (1600 with Consul's
	// default 100), unlimited when MaxConnsPerClient is 0.
	MaxConnsPerExemptClient int
}

// DefaultExemptConnsFactor is MaxConnsPerExemptClient's default, as a
// multiple of MaxConnsPerClient.
const DefaultExemptConnsFactor = 16

// exemptCap is the cap MaxConnsPerExemptClient resolves to (0 unlimited).
func (c Config) exemptCap() int {
	if c.MaxConnsPerExemptClient > 0 {
		return c.MaxConnsPerExemptClient
	}
	return DefaultExemptConnsFactor * c.MaxConnsPerClient
}

// DefaultConfig returns the server-side defaults.
func DefaultConfig() Config {
	return Config{
		HandshakeTimeout:       5 * time.Second,
		MaxConnsPerClient:      100,
		MaxStreamsPerSession:   DefaultMaxStreamsPerSession,
		PlainIdleTimeout:       2 * time.Minute,
		MaxMessageSize:         DefaultMaxMessageSize,
		KeepAliveInterval:      30 * time.Second,
		ConnectionWriteTimeout: 10 * time.Second,
		AcceptBacklog:          256,
	}
}

// Validate reports every setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.HandshakeTimeout <= 0 {
		errs = append(errs, fmt.Errorf("HandshakeTimeout must be positive, got %v", c.HandshakeTimeout))
	}
	if c.MaxMessageSize <= 0 || uint64(c.MaxMessageSize) > 1<<32-1 {
		errs = append(errs, fmt.Errorf("MaxMessageSize must be in 1..%d, got %d", uint64(1<<32-1), c.MaxMessageSize))
	}
	if c.MaxConnsPerClient < 0 {
		errs = append(errs, fmt.Errorf("MaxConnsPerClient must not be negative (0 means unlimited), got %d", c.MaxConnsPerClient))
	}
	if c.MaxConnsPerExemptClient < 0 {
		errs = append(errs, fmt.Errorf("MaxConnsPerExemptClient must not be negative (0 means the default), got %d", c.MaxConnsPerExemptClient))
	}
	if c.MaxStreamsPerSession <= 0 {
		errs = append(errs, fmt.Errorf("MaxStreamsPerSession must be positive, got %d", c.MaxStreamsPerSession))
	}
	if c.PlainIdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("PlainIdleTimeout must be positive, got %v", c.PlainIdleTimeout))
	}
	if c.KeepAliveInterval <= 0 {
		errs = append(errs, fmt.Errorf("KeepAliveInterval must be positive, got %v", c.KeepAliveInterval))
	}
	if c.ConnectionWriteTimeout <= 0 {
		errs = append(errs, fmt.Errorf("ConnectionWriteTimeout must be positive, got %v", c.ConnectionWriteTimeout))
	}
	if c.AcceptBacklog <= 0 {
		errs = append(errs, fmt.Errorf("AcceptBacklog must be positive, got %d", c.AcceptBacklog))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// PoolConfig tunes the client side (Pool).
type PoolConfig struct {
	// DialTimeout bounds establishing a session; a call whose ctx
	// deadline comes sooner uses that instead.
	DialTimeout time.Duration
	// MaxCallsPerSession is how many calls may share one session before
	// the pool opens another session to the same server; calls never wait
	// for a free stream. Keep it below the server's MaxStreamsPerSession.
	MaxCallsPerSession int
	// MaxIdleStreams is how many finished streams a session keeps open
	// for reuse.
	MaxIdleStreams int
	// IdleTimeout is how long a session with no calls is kept open.
	IdleTimeout time.Duration
	// KeepAliveInterval is the yamux keepalive period; a session whose
	// keepalive fails is closed and replaced on the next call.
	KeepAliveInterval time.Duration
	// ConnectionWriteTimeout is yamux's safety valve for stuck writes.
	ConnectionWriteTimeout time.Duration
	// MaxMessageSize bounds one request or reply.
	MaxMessageSize int
	// SourceAddr is the local IP every session is dialed from (Consul's
	// RPC source address: the agent's bind address), so firewall rules
	// and partitions on addresses apply as configured. Nil or unspecified
	// lets the kernel choose.
	SourceAddr net.IP
	// TLS returns the config for dialing a server of datacenter dc; it is
	// called for every new session, so a reload takes effect for new
	// sessions only. Nil, or returning nil, nil, means plaintext. An error
	// fails the dial (wrapped in structs.ErrUnreachable, so the caller
	// tries another server): it never falls back to plaintext. A config
	// with neither ServerName nor InsecureSkipVerify gets the host of
	// the address dialed as its ServerName.
	TLS func(dc structs.Datacenter) (*tls.Config, error)
	// Dialer, when set, opens the TCP connection to addr, a server of
	// datacenter dc, instead of a direct dial from SourceAddr (federation
	// through gateways: a connection to another datacenter is opened
	// through a local gateway). The pool then speaks to the returned
	// connection as to a direct one: the TLS handshake (PoolConfig.TLS)
	// and the protocol byte, so TLS stays end to end. ctx bounds the
	// dial. Nil, or a Dialer returning ErrDialDirect for an address,
	// dials directly.
	Dialer func(ctx context.Context, dc structs.Datacenter, addr structs.ServerAddr) (net.Conn, error)
	// MinDialTime, when set, is the least time a session dial to a
	// server of dc is given, even when the caller who starts it has less
	// left; the callers after it, which share the dial, then find it
	// done. A path that needs longer to come up than a hurried caller
	// allows (through a hung federation gateway the Dialer passes over
	// after a second; a 200 ms health probe) would otherwise never form.
	// Nil or 0 (the default, right for direct dials, whose fresh SYN
	// notices a healed partition at once): the starter's deadline bounds
	// the dial, and the next caller dials again.
	MinDialTime func(dc structs.Datacenter) time.Duration
}

// DefaultPoolConfig returns the client-side defaults.
func DefaultPoolConfig() PoolConfig {
	return PoolConfig{
		DialTimeout:            10 * time.Second,
		MaxCallsPerSession:     DefaultMaxCallsPerSession,
		MaxIdleStreams:         64,
		IdleTimeout:            2 * time.Minute,
		KeepAliveInterval:      30 * time.Second,
		ConnectionWriteTimeout: 10 * time.Second,
		MaxMessageSize:         DefaultMaxMessageSize,
	}
}

// Validate reports every setting that cannot work.
func (c PoolConfig) Validate() error {
	var errs []error
	if c.DialTimeout <= 0 {
		errs = append(errs, fmt.Errorf("DialTimeout must be positive, got %v", c.DialTimeout))
	}
	if c.MaxCallsPerSession <= 0 {
		errs = append(errs, fmt.Errorf("MaxCallsPerSession must be positive, got %d", c.MaxCallsPerSession))
	}
	if c.MaxIdleStreams < 0 {
		errs = append(errs, fmt.Errorf("MaxIdleStreams must not be negative, got %d", c.MaxIdleStreams))
	}
	if c.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("IdleTimeout must be positive, got %v", c.IdleTimeout))
	}
	if c.KeepAliveInterval <= 0 {
		errs = append(errs, fmt.Errorf("KeepAliveInterval must be positive, got %v", c.KeepAliveInterval))
	}
	if c.ConnectionWriteTimeout <= 0 {
		errs = append(errs, fmt.Errorf("ConnectionWriteTimeout must be positive, got %v", c.ConnectionWriteTimeout))
	}
	if c.MaxMessageSize <= 0 || uint64(c.MaxMessageSize) > 1<<32-1 {
		errs = append(errs, fmt.Errorf("MaxMessageSize must be in 1..%d, got %d", uint64(1<<32-1), c.MaxMessageSize))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// yamuxConfig builds a yamux config; yamux's own logging is discarded
// because every failure it logs also surfaces as an error we log.
func yamuxConfig(keepAlive, writeTimeout time.Duration, backlog int) *yamux.Config {
	yc := yamux.DefaultConfig()
	yc.EnableKeepAlive = true
	yc.KeepAliveInterval = keepAlive
	yc.ConnectionWriteTimeout = writeTimeout
	yc.AcceptBacklog = backlog
	yc.LogOutput = io.Discard
	return yc
}

// dialer returns a net.Dialer bound to src unless src is nil or
// unspecified (0.0.0.0, ::), in which case the kernel picks the source.
func dialer(src net.IP, timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout}
	if src != nil && !src.IsUnspecified() {
		d.LocalAddr = &net.TCPAddr{IP: src}
	}
	return d
}
