package rpcmux

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/hashicorp/yamux"
)

// DefaultMaxMessageSize bounds one request or reply on the wire.
const DefaultMaxMessageSize = 8 << 20

// Config tunes the server side (Mux).
type Config struct {
	// AdvertiseAddr is what RaftLayer.Addr reports: the address other
	// servers dial for Raft. If nil, the listener's address is used.
	AdvertiseAddr net.Addr
	// HandshakeTimeout bounds how long a new connection may take to send
	// its first (protocol) byte.
	HandshakeTimeout time.Duration
	// MaxMessageSize bounds one request frame; larger ones are refused
	// with ErrMessageTooLarge and the connection or stream is closed.
	MaxMessageSize int
	// KeepAliveInterval is the yamux keepalive period on inbound sessions.
	KeepAliveInterval time.Duration
	// ConnectionWriteTimeout is yamux's safety valve for stuck writes.
	ConnectionWriteTimeout time.Duration
	// AcceptBacklog bounds yamux streams waiting to be accepted per session.
	AcceptBacklog int
	// SourceAddr is the local IP that outgoing Raft connections are dialed
	// from (Consul's RPC source address: the agent's bind address). Nil or
	// unspecified lets the kernel choose.
	SourceAddr net.IP
}

// DefaultConfig returns the server-side defaults.
func DefaultConfig() Config {
	return Config{
		HandshakeTimeout:       5 * time.Second,
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
		errs = append(errs, fmt.Errorf("rpcmux: HandshakeTimeout must be positive, got %v", c.HandshakeTimeout))
	}
	if c.MaxMessageSize <= 0 || uint64(c.MaxMessageSize) > 1<<32-1 {
		errs = append(errs, fmt.Errorf("rpcmux: MaxMessageSize must be in 1..%d, got %d", uint64(1<<32-1), c.MaxMessageSize))
	}
	if c.KeepAliveInterval <= 0 {
		errs = append(errs, fmt.Errorf("rpcmux: KeepAliveInterval must be positive, got %v", c.KeepAliveInterval))
	}
	if c.ConnectionWriteTimeout <= 0 {
		errs = append(errs, fmt.Errorf("rpcmux: ConnectionWriteTimeout must be positive, got %v", c.ConnectionWriteTimeout))
	}
	if c.AcceptBacklog <= 0 {
		errs = append(errs, fmt.Errorf("rpcmux: AcceptBacklog must be positive, got %d", c.AcceptBacklog))
	}
	return errors.Join(errs...)
}

// PoolConfig tunes the client side (Pool).
type PoolConfig struct {
	// DialTimeout bounds establishing a session; a call whose ctx
	// deadline comes sooner uses that instead.
	DialTimeout time.Duration
	// MaxStreams bounds concurrent calls on one session; further callers
	// wait (honouring their ctx) for a stream to free up.
	MaxStreams int
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
}

// DefaultPoolConfig returns the client-side defaults.
func DefaultPoolConfig() PoolConfig {
	return PoolConfig{
		DialTimeout:            10 * time.Second,
		MaxStreams:             64,
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
		errs = append(errs, fmt.Errorf("rpcmux: DialTimeout must be positive, got %v", c.DialTimeout))
	}
	if c.MaxStreams <= 0 {
		errs = append(errs, fmt.Errorf("rpcmux: MaxStreams must be positive, got %d", c.MaxStreams))
	}
	if c.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("rpcmux: IdleTimeout must be positive, got %v", c.IdleTimeout))
	}
	if c.KeepAliveInterval <= 0 {
		errs = append(errs, fmt.Errorf("rpcmux: KeepAliveInterval must be positive, got %v", c.KeepAliveInterval))
	}
	if c.ConnectionWriteTimeout <= 0 {
		errs = append(errs, fmt.Errorf("rpcmux: ConnectionWriteTimeout must be positive, got %v", c.ConnectionWriteTimeout))
	}
	if c.MaxMessageSize <= 0 || uint64(c.MaxMessageSize) > 1<<32-1 {
		errs = append(errs, fmt.Errorf("rpcmux: MaxMessageSize must be in 1..%d, got %d", uint64(1<<32-1), c.MaxMessageSize))
	}
	return errors.Join(errs...)
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
