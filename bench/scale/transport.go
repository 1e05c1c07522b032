package main

import (
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// counters are one member's gossip traffic as its transport saw it.
type counters struct {
	bytesOut, bytesIn     atomic.Uint64 // packets and streams, both
	packetsOut, packetsIn atomic.Uint64
	dropped               atomic.Uint64 // packets dropped by loss or a dead member
}

func (c *counters) total() uint64 { return c.bytesOut.Load() + c.bytesIn.Load() }

// errBlackholed is what a dead member's dials return.
var errBlackholed = errors.New("scale: member is blackholed")

// faultTransport wraps a member's memberlist transport (through
// gossip.Config.WrapTransport) to count bytes in and out, drop a fraction
// of the UDP packets it sends, and play dead: a dead member sends and
// receives nothing, its dials time out and streams to it are closed, as a
// host that lost power. Streams are never subject to loss.
type faultTransport struct {
	inner     memberlist.NodeAwareTransport
	stats     *counters
	loss      func() float64 // per-packet drop probability at send
	dead      atomic.Bool
	packetCh  chan *memberlist.Packet
	streamCh  chan net.Conn
	done      chan struct{} // Shutdown has begun
	innerDown chan struct{} // the inner transport is shut down
	once      sync.Once
	wg        sync.WaitGroup
}

var _ memberlist.NodeAwareTransport = (*faultTransport)(nil)

func newFaultTransport(inner memberlist.NodeAwareTransport, stats *counters, loss func() float64) *faultTransport {
	t := &faultTransport{
		inner: inner, stats: stats, loss: loss,
		packetCh: make(chan *memberlist.Packet),
		streamCh: make(chan net.Conn),
		done:     make(chan struct{}),

		innerDown: make(chan struct{}),
	}
	t.wg.Add(2)
	go t.forwardPackets()
	go t.forwardStreams()
	return t
}

func (t *faultTransport) forwardPackets() {
	defer t.wg.Done()
	in := t.inner.PacketCh()
	for {
		select {
		case <-t.innerDown:
			return
		case p := <-in:
			if t.dead.Load() || t.closing() {
				t.stats.dropped.Add(1)
				continue
			}
			t.stats.packetsIn.Add(1)
			t.stats.bytesIn.Add(uint64(len(p.Buf)))
			select {
			case t.packetCh <- p:
			case <-t.done:
			}
		}
	}
}

func (t *faultTransport) forwardStreams() {
	defer t.wg.Done()
	in := t.inner.StreamCh()
	for {
		select {
		case <-t.innerDown:
			return
		case c := <-in:
			if t.dead.Load() || t.closing() {
				_ = c.Close()
				continue
			}
			select {
			case t.streamCh <- &countingConn{Conn: c, stats: t.stats}:
			case <-t.done:
				_ = c.Close()
			}
		}
	}
}

// closing reports whether Shutdown has begun.
func (t *faultTransport) closing() bool {
	select {
	case <-t.done:
		return true
	default:
		return false
	}
}

// send decides whether a packet of n bytes leaves.
func (t *faultTransport) send(n int) bool {
	if t.dead.Load() {
		t.stats.dropped.Add(1)
		return false
	}
	t.stats.packetsOut.Add(1)
	t.stats.bytesOut.Add(uint64(n))
	if l := t.loss(); l > 0 && rand.Float64() < l {
		t.stats.dropped.Add(1)
		return false
	}
	return true
}

// FinalAdvertiseAddr is the inner transport's.
func (t *faultTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return t.inner.FinalAdvertiseAddr(ip, port)
}

// WriteTo sends a packet unless it is dropped (then it reports success, as UDP does).
func (t *faultTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if !t.send(len(b)) {
		return time.Now(), nil
	}
	return t.inner.WriteTo(b, addr)
}

// WriteToAddress is WriteTo with a node-aware address.
func (t *faultTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if !t.send(len(b)) {
		return time.Now(), nil
	}
	return t.inner.WriteToAddress(b, a)
}

// PacketCh delivers the packets that were not dropped.
func (t *faultTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// StreamCh delivers incoming streams, counted.
func (t *faultTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// DialTimeout opens a counted stream; a dead member's dial times out.
func (t *faultTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout is DialTimeout with a node-aware address.
func (t *faultTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.dead.Load() {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-t.done:
		}
		return nil, errBlackholed
	}
	c, err := t.inner.DialAddressTimeout(a, timeout)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, stats: t.stats}, nil
}

// Shutdown stops the inner transport and then the forwarders. They keep
// draining the inner channels until the inner transport is down: its
// listeners block on an unbuffered send, and would never finish.
func (t *faultTransport) Shutdown() error {
	var err error
	t.once.Do(func() {
		close(t.done)
		err = t.inner.Shutdown()
		close(t.innerDown)
		t.wg.Wait()
	})
	return err
}

// countingConn counts a stream's bytes into its member's counters.
type countingConn struct {
	net.Conn
	stats *counters
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.stats.bytesIn.Add(uint64(n))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.stats.bytesOut.Add(uint64(n))
	return n, err
}
