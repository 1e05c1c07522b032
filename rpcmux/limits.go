package rpcmux

import (
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// MuxStats counts what the port's bounds turned away, for metrics.
type MuxStats struct {
	// Conns is the number of connections open now (every protocol).
	Conns int
	// ConnsRejected counts connections closed at accept because their
	// client IP already held MaxConnsPerClient.
	ConnsRejected uint64
	// HandshakeTimeouts counts connections closed for not finishing their
	// preamble within HandshakeTimeout.
	HandshakeTimeouts uint64
	// IdleClosed counts plain RPC connections closed after
	// PlainIdleTimeout without a call.
	IdleClosed uint64
	// StreamsRejected counts yamux streams refused because their session
	// already had MaxStreamsPerSession open.
	StreamsRejected uint64
	// PlainRefused counts plaintext connections refused because TLS is
	// required (verify_incoming).
	PlainRefused uint64
	// TLSHandshakeFailures counts TLS handshakes that failed for another
	// reason than the handshake deadline (unknown CA, no client
	// certificate, a protocol error).
	TLSHandshakeFailures uint64
}

// muxCounters are the atomic counters behind MuxStats.
type muxCounters struct {
	connsRejected     atomic.Uint64
	handshakeTimeouts atomic.Uint64
	idleClosed        atomic.Uint64
	streamsRejected   atomic.Uint64
	plainRefused      atomic.Uint64
	tlsFailed         atomic.Uint64
	// lastWarn is the UnixNano of the last rate-limited warning;
	// lastTLSWarn the same for refusals on TLS grounds, kept apart so
	// that a flood of other refusals cannot hide them.
	// lastPlainWarn and lastRaftPeerWarn are the same for plaintext refused
	// under verify_incoming and for client certificates refused on Raft:
	// each kind of refusal has its own, so one cannot hide another.
	lastWarn         atomic.Int64
	lastTLSWarn      atomic.Int64
	lastPlainWarn    atomic.Int64
	lastRaftPeerWarn atomic.Int64
}

// warnAllowed rate-limits warnings about refused connections and streams
// to one a second, so a client hammering the port cannot flood the log;
// the counters still count every one.
func (c *muxCounters) warnAllowed(now time.Time) bool {
	return onePerSecond(&c.lastWarn, now)
}

// tlsWarnAllowed is warnAllowed for failed TLS handshakes.
func (c *muxCounters) tlsWarnAllowed(now time.Time) bool {
	return onePerSecond(&c.lastTLSWarn, now)
}

// plainWarnAllowed is warnAllowed for plaintext refused (verify_incoming).
func (c *muxCounters) plainWarnAllowed(now time.Time) bool {
	return onePerSecond(&c.lastPlainWarn, now)
}

// raftPeerWarnAllowed is warnAllowed for Raft connections refused because
// the peer is not a server.
func (c *muxCounters) raftPeerWarnAllowed(now time.Time) bool {
	return onePerSecond(&c.lastRaftPeerWarn, now)
}

func onePerSecond(last *atomic.Int64, now time.Time) bool {
	l := last.Load()
	if now.UnixNano()-l < int64(time.Second) {
		return false
	}
	return last.CompareAndSwap(l, now.UnixNano())
}

// yamuxHeaderSize is the size of a yamux frame header: version, type,
// flags, stream ID and length.
const yamuxHeaderSize = 12

// preambleConn keeps the handshake read deadline on a multiplexed
// connection until the first whole yamux frame header has arrived, then
// clears it: a client that sends the protocol byte and stalls is cut off
// at the deadline instead of holding a session open. yamux reads from a
// single goroutine, so Read needs no lock; established is read elsewhere.
type preambleConn struct {
	net.Conn
	got         int
	established atomic.Bool
	timedOut    atomic.Bool
}

func (c *preambleConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.established.Load() {
		c.got += n
		if c.got >= yamuxHeaderSize {
			c.established.Store(true)
			_ = c.Conn.SetReadDeadline(time.Time{})
		} else if isTimeout(err) {
			c.timedOut.Store(true)
		}
	}
	return n, err
}

// isTimeout reports a deadline that passed.
func isTimeout(err error) bool {
	var ne net.Error
	return err != nil && errors.As(err, &ne) && ne.Timeout()
}
