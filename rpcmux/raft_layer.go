package rpcmux

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// RaftLayer is the raft.StreamLayer of the server port: Accept yields the
// connections that opened with RPCRaft, Dial opens one to another server.
// Obtain it from Mux.RaftLayer and pass it to raft.NewNetworkTransport.
type RaftLayer struct {
	advertise net.Addr
	source    net.IP
	dialTLS   func() (*tls.Config, error)
	connCh    chan net.Conn
	closeCh   chan struct{}
	closeOnce sync.Once

	// addrMu guards listenAddr, the fallback when no advertise address
	// is configured.
	addrMu     sync.Mutex
	listenAddr net.Addr
}

var _ raft.StreamLayer = (*RaftLayer)(nil)

func newRaftLayer(m *Mux) *RaftLayer {
	return &RaftLayer{
		advertise: m.cfg.AdvertiseAddr,
		source:    m.cfg.SourceAddr,
		dialTLS:   m.cfg.RaftDialTLS,
		connCh:    make(chan net.Conn),
		closeCh:   make(chan struct{}),
	}
}

func (l *RaftLayer) setListenAddr(a net.Addr) {
	l.addrMu.Lock()
	if l.listenAddr == nil {
		l.listenAddr = a
	}
	l.addrMu.Unlock()
}

// handoff gives conn to whoever calls Accept, or closes it if the layer
// is closed first.
func (l *RaftLayer) handoff(conn net.Conn) {
	select {
	case l.connCh <- conn:
	case <-l.closeCh:
		conn.Close()
	}
}

// Accept waits for the next Raft connection. It returns ErrClosed once the
// layer is closed.
func (l *RaftLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.connCh:
		return c, nil
	case <-l.closeCh:
		return nil, ErrClosed
	}
}

// Close stops Accept; connections already handed out stay open. It is
// idempotent and never fails.
func (l *RaftLayer) Close() error {
	l.closeOnce.Do(func() { close(l.closeCh) })
	return nil
}

// Addr returns the advertise address from Config, or the listener's
// address if none was given.
func (l *RaftLayer) Addr() net.Addr {
	if l.advertise != nil {
		return l.advertise
	}
	l.addrMu.Lock()
	defer l.addrMu.Unlock()
	if l.listenAddr != nil {
		return l.listenAddr
	}
	return &net.TCPAddr{}
}

// Dial connects to another server's port and announces Raft, inside TLS
// when Config.RaftDialTLS gives a config; timeout bounds all of it.
func (l *RaftLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	select {
	case <-l.closeCh:
		return nil, ErrClosed
	default:
	}
	var tlsCfg *tls.Config
	if l.dialTLS != nil {
		var err error
		if tlsCfg, err = l.dialTLS(); err != nil {
			return nil, fmt.Errorf("rpcmux: dialing raft %s: TLS config: %w", address, err)
		}
	}
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	conn, err := dialer(l.source, 0).DialContext(ctx, "tcp", string(address))
	if err != nil {
		return nil, fmt.Errorf("rpcmux: dialing raft %s: %w", address, err)
	}
	if tlsCfg != nil {
		tc, err := clientTLS(ctx, conn, tlsCfg, string(address), RPCRaft)
		if err != nil {
			return nil, fmt.Errorf("rpcmux: dialing raft %s: %w", address, err)
		}
		return tc, nil
	}
	if conn, err = clientPlain(ctx, conn, RPCRaft); err != nil {
		return nil, fmt.Errorf("rpcmux: announcing raft to %s: %w", address, err)
	}
	return conn, nil
}
