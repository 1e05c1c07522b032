package wan

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"consulate/gossip"
	"consulate/internal/waitctx"
	"consulate/structs"
)

// Gossip sub-protocols on a connection that opened with the server port's
// gossip byte (rpcmux.RPCGossip), the next byte on the wire.
const (
	// GossipPacketPipe is a one-way pipe of memberlist packets: the
	// sender's WAN gossip address (2-byte big-endian length, then
	// "host:port", the packets' From), then frames of a 4-byte
	// big-endian length and one packet, until EOF.
	GossipPacketPipe byte = 'p'
	// GossipStream is one memberlist stream (push-pull, fallback probe,
	// user message), handed to memberlist as an accepted TCP conn.
	GossipStream byte = 's'
)

// ErrNoGatewayRoute is returned for a stream to a member of another
// datacenter whose server RPC address is not known yet.
var ErrNoGatewayRoute = errors.New("wan: no RPC address known for the member of another datacenter")

// MaxGossipPacket bounds one packet on a packet pipe (UDP's own bound).
const MaxGossipPacket = 64 << 10

// maxFromLen bounds the sender address in a pipe's preamble.
const maxFromLen = 256

// GatewayDialFunc opens a connection to the server port of rpcAddr, a
// server of datacenter dc, through the local federation gateways, with
// the gossip protocol byte already written (the agent wires
// rpcmux.Pool.DialProto with rpcmux.RPCGossip: TLS, when configured, runs
// end to end inside it). ctx bounds the dial.
type GatewayDialFunc func(ctx context.Context, dc, rpcAddr string) (net.Conn, error)

// GatewayConfig configures a GatewayTransport.
type GatewayConfig struct {
	// Datacenter is the local datacenter: gossip to its servers stays
	// direct.
	Datacenter string
	// AdvertiseAddr is this server's WAN gossip address ("ip:port"),
	// sent at the start of every packet pipe as the packets' sender.
	AdvertiseAddr string
	// Dial opens connections through the gateways. Required.
	Dial GatewayDialFunc
	// QueueSize bounds the packets waiting on one pipe; a packet that
	// finds it full is dropped, as UDP would drop it.
	QueueSize int
	// IdleTimeout closes a pipe that carried no packet for this long.
	IdleTimeout time.Duration
	// DialTimeout bounds a pipe's dial (streams use memberlist's timeout).
	DialTimeout time.Duration
	// WriteTimeout bounds one write on a pipe; a pipe stuck longer is
	// closed and dialed again.
	WriteTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before a pipe is dialed
	// again after a failure (doubling from Min up to Max).
	MinBackoff, MaxBackoff time.Duration
	// HandshakeTimeout bounds reading the sub-protocol byte and a pipe's
	// preamble on an incoming connection.
	HandshakeTimeout time.Duration
	// MaxInbound bounds the incoming pipes and streams open at once; a
	// connection beyond it is closed with a log line.
	MaxInbound int
	// Logger; nil discards.
	Logger *slog.Logger
}

// DefaultGatewayConfig returns the defaults; Datacenter, AdvertiseAddr
// and Dial are left for the caller.
func DefaultGatewayConfig() GatewayConfig {
	return GatewayConfig{
		QueueSize:        512,
		IdleTimeout:      60 * time.Second,
		DialTimeout:      5 * time.Second,
		WriteTimeout:     10 * time.Second,
		MinBackoff:       100 * time.Millisecond,
		MaxBackoff:       5 * time.Second,
		HandshakeTimeout: 5 * time.Second,
		MaxInbound:       4096,
	}
}

// Validate reports every setting that cannot work.
func (c GatewayConfig) Validate() error {
	var errs []error
	if c.Datacenter == "" {
		errs = append(errs, errors.New("gateway transport: Datacenter is empty"))
	}
	if _, err := netip.ParseAddrPort(c.AdvertiseAddr); err != nil {
		errs = append(errs, fmt.Errorf("gateway transport: AdvertiseAddr %q is not ip:port", c.AdvertiseAddr))
	}
	if c.Dial == nil {
		errs = append(errs, errors.New("gateway transport: Dial is nil"))
	}
	for name, d := range map[string]time.Duration{"IdleTimeout": c.IdleTimeout, "DialTimeout": c.DialTimeout,
		"WriteTimeout": c.WriteTimeout, "MinBackoff": c.MinBackoff, "MaxBackoff": c.MaxBackoff,
		"HandshakeTimeout": c.HandshakeTimeout} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("gateway transport: %s must be positive, got %v", name, d))
		}
	}
	if c.QueueSize <= 0 {
		errs = append(errs, fmt.Errorf("gateway transport: QueueSize must be positive, got %d", c.QueueSize))
	}
	if c.MaxInbound <= 0 {
		errs = append(errs, fmt.Errorf("gateway transport: MaxInbound must be positive, got %d", c.MaxInbound))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// GatewayStats counts a GatewayTransport's traffic through the gateways.
type GatewayStats struct {
	// PacketsSent and PacketsDropped count packets written on pipes and
	// dropped (queue full, pipe down, shutdown).
	PacketsSent, PacketsDropped uint64
	// PacketsReceived counts packets that arrived on incoming pipes.
	PacketsReceived uint64
	// StreamsDialed and StreamsAccepted count memberlist streams opened
	// through the gateways and accepted from them.
	StreamsDialed, StreamsAccepted uint64
	// PipeDials counts pipe dials (first and again after failures);
	// Pipes is the number of outgoing pipes now.
	PipeDials uint64
	Pipes     int
	// PacketsNoRoute and StreamsNoRoute count packets dropped and streams
	// refused to members of another datacenter whose RPC address is not
	// known yet (they never go the direct way).
	PacketsNoRoute, StreamsNoRoute uint64
	// InboundRefused counts incoming pipes and streams closed because
	// MaxInbound were open.
	InboundRefused uint64
}

// GatewayTransport is the WAN pool's memberlist transport in gateway
// mode (servers federated through gateways): gossip to a member named
// NODE.DC of another datacenter goes through the local gateways to that
// server's RPC port (packets over one persistent pipe per member,
// streams over a connection each), never directly: while its RPC
// address is not known yet, packets to it are dropped and streams
// refused. This datacenter's members and names without a datacenter go
// through the base transport as before. The receiving side is
// HandleConn, the server port's gossip handler; what it receives comes
// out of the same PacketCh and StreamCh as the base transport's.
//
// Build it with NewGatewayTransport, hand it to the WAN pool
// (Config.Gateway), which wraps its bound transport with Wrap.
type GatewayTransport struct {
	cfg    GatewayConfig
	logger *slog.Logger

	base     memberlist.NodeAwareTransport // set by Wrap
	packetCh chan *memberlist.Packet
	streamCh chan net.Conn

	// mu guards addrs, hints, pipes, inbound and shutdown.
	mu       sync.Mutex
	addrs    map[string]string // member name → RPC address, from the pool's members
	hints    map[string]string // member name → RPC address, from joins
	pipes    map[string]*pipe
	inbound  map[net.Conn]struct{}
	shutdown bool

	ctx          context.Context // cancelled on Shutdown; parent of dials
	cancel       context.CancelFunc
	shutdownCh   chan struct{}
	shutdownOnce sync.Once
	wg           sync.WaitGroup

	sent, dropped, received, streamsDialed, streamsAccepted, pipeDials atomic.Uint64
	packetsNoRoute, streamsNoRoute, inboundRefused                     atomic.Uint64
	// inboundOpen counts the incoming pipes and streams open now.
	inboundOpen atomic.Int64
}

var _ memberlist.NodeAwareTransport = (*GatewayTransport)(nil)

// NewGatewayTransport validates cfg and returns a transport waiting for
// Wrap. HandleConn may be called before Wrap.
func NewGatewayTransport(cfg GatewayConfig) (*GatewayTransport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := &GatewayTransport{
		cfg:        cfg,
		logger:     logger.With("component", "gossip.wan.gateway"),
		packetCh:   make(chan *memberlist.Packet),
		streamCh:   make(chan net.Conn),
		addrs:      map[string]string{},
		hints:      map[string]string{},
		pipes:      map[string]*pipe{},
		inbound:    map[net.Conn]struct{}{},
		shutdownCh: make(chan struct{}),
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	return t, nil
}

// Wrap makes t the transport memberlist runs on, over base (the WAN
// pool's bound transport), and starts moving base's packets and streams
// into t's channels. It is gossip.Config.WrapTransport; call it once.
func (t *GatewayTransport) Wrap(base memberlist.NodeAwareTransport) memberlist.NodeAwareTransport {
	t.base = base
	t.wg.Go(func() {
		for {
			select {
			case p := <-base.PacketCh():
				select {
				case t.packetCh <- p:
				case <-t.shutdownCh:
					return
				}
			case <-t.shutdownCh:
				return
			}
		}
	})
	t.wg.Go(func() {
		for {
			select {
			case c := <-base.StreamCh():
				select {
				case t.streamCh <- c:
				case <-t.shutdownCh:
					c.Close()
					return
				}
			case <-t.shutdownCh:
				return
			}
		}
	})
	return t
}

// HintRPCAddr records the server RPC address of member name (NODE.DC)
// before it is a member, so that joining it goes through the gateways.
func (t *GatewayTransport) HintRPCAddr(name, rpcAddr string) {
	t.mu.Lock()
	t.hints[name] = rpcAddr
	t.mu.Unlock()
}

// observe keeps the RPC address of every server member (its IP and port
// tag) from the pool's events; a reaped member is forgotten.
func (t *GatewayTransport) observe(ev gossip.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range ev.Members {
		if ev.Type == gossip.MemberReap {
			delete(t.addrs, m.Name)
			continue
		}
		if si, ok := structs.ParseServer(m); ok {
			t.addrs[m.Name] = si.Addr
		}
	}
}

// route returns the datacenter and RPC address to reach member name
// through the gateways; remote false for the direct way (this
// datacenter, names without one). A member of another datacenter whose
// RPC address is not known yet (its join event not seen yet) has
// remote true and rpcAddr "": it is not reachable, never directly.
func (t *GatewayTransport) route(name string) (dc, rpcAddr string, remote bool) {
	_, dc, ok := SplitMemberName(name)
	if !ok || dc == t.cfg.Datacenter {
		return "", "", false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return dc, t.rpcAddrLocked(name), true
}

// rpcAddrLocked is the RPC address of a member of another datacenter,
// from its join event or, before that, a hint; "" when neither is known.
// t.mu is held.
func (t *GatewayTransport) rpcAddrLocked(name string) string {
	if a := t.addrs[name]; a != "" {
		return a
	}
	return t.hints[name]
}

// FinalAdvertiseAddr is the base transport's.
func (t *GatewayTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return t.base.FinalAdvertiseAddr(ip, port)
}

// WriteTo sends to an address without a name: the direct way.
func (t *GatewayTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return t.base.WriteTo(b, addr)
}

// WriteToAddress queues b on the pipe to a.Name when it is a server of
// another datacenter, else sends it directly. A member of another
// datacenter without a known RPC address yet is not sent to: the packet
// is dropped (counted in Stats.PacketsNoRoute), as a lost UDP packet.
// It never blocks on the network: the pipe dials in the background, and
// a full queue drops the packet.
func (t *GatewayTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	_, dc, ok := SplitMemberName(a.Name)
	if !ok || dc == t.cfg.Datacenter {
		return t.base.WriteToAddress(b, a)
	}
	if len(b) > MaxGossipPacket {
		return time.Time{}, fmt.Errorf("gossip packet of %d bytes to %s exceeds %d", len(b), a.Name, MaxGossipPacket)
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	rpcAddr := t.rpcAddrLocked(a.Name)
	if rpcAddr == "" {
		t.packetsNoRoute.Add(1)
		t.logger.Debug("gossip packet dropped: no RPC address yet for the member of another datacenter", "member", a.Name)
		return now, nil
	}
	if t.shutdown {
		t.dropped.Add(1)
		return now, nil
	}
	p := t.pipes[a.Name]
	if p == nil {
		p = &pipe{t: t, name: a.Name, q: make(chan []byte, t.cfg.QueueSize)}
		t.pipes[a.Name] = p
		t.wg.Go(p.run)
	}
	p.dc, p.rpcAddr = dc, rpcAddr
	select {
	case p.q <- append([]byte(nil), b...):
	default:
		t.dropped.Add(1)
	}
	return now, nil
}

// PacketCh carries the base transport's packets and those of incoming
// pipes.
func (t *GatewayTransport) PacketCh() <-chan *memberlist.Packet { return t.packetCh }

// StreamCh carries the base transport's streams and incoming gossip
// streams from the gateways.
func (t *GatewayTransport) StreamCh() <-chan net.Conn { return t.streamCh }

// DialTimeout dials an address without a name: the direct way.
func (t *GatewayTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.base.DialTimeout(addr, timeout)
}

// DialAddressTimeout opens a stream to a.Name through the gateways when
// it is a server of another datacenter, else directly. A member of
// another datacenter without a known RPC address yet is refused (counted
// in Stats.StreamsNoRoute). timeout bounds the dial and the sub-protocol
// byte.
func (t *GatewayTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	dc, rpcAddr, remote := t.route(a.Name)
	if !remote {
		return t.base.DialAddressTimeout(a, timeout)
	}
	if rpcAddr == "" {
		t.streamsNoRoute.Add(1)
		t.logger.Debug("gossip stream refused: no RPC address yet for the member of another datacenter", "member", a.Name)
		return nil, fmt.Errorf("gossip stream to %s: %w", a.Name, ErrNoGatewayRoute)
	}
	ctx, cancel := context.WithTimeout(t.ctx, timeout)
	defer cancel()
	conn, err := t.cfg.Dial(ctx, dc, rpcAddr)
	if err != nil {
		return nil, fmt.Errorf("gossip stream to %s (%s in %s) through the gateways: %w", a.Name, rpcAddr, dc, err)
	}
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := conn.Write([]byte{GossipStream}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("gossip stream to %s: %w", a.Name, err)
	}
	_ = conn.SetWriteDeadline(time.Time{})
	t.streamsDialed.Add(1)
	return conn, nil
}

// ClosedNotifier is implemented by a connection that tells when it has
// been closed (rpcmux's gossip connections): HandleConn then stops
// waiting to deliver what it read as soon as the server port closes it.
type ClosedNotifier interface {
	Closed() <-chan struct{}
}

// HandleConn serves a connection that opened with the server port's
// gossip byte (rpcmux.Config.Gossip): a packet pipe is read until EOF,
// its packets delivered to PacketCh; a stream is handed to StreamCh. It
// owns conn and returns when done with it (at once for a stream), on
// Shutdown, or when conn is closed (see ClosedNotifier). At most
// MaxInbound pipes and streams are open at once; one more is closed.
func (t *GatewayTransport) HandleConn(conn net.Conn) {
	remote := conn.RemoteAddr().String()
	var closed <-chan struct{}
	if cn, ok := conn.(ClosedNotifier); ok {
		closed = cn.Closed()
	}
	_ = conn.SetReadDeadline(time.Now().Add(t.cfg.HandshakeTimeout))
	var kind [1]byte
	if _, err := io.ReadFull(conn, kind[:]); err != nil {
		t.logger.Debug("gossip connection closed before its kind", "remote", remote, "error", err)
		conn.Close()
		return
	}
	if kind[0] == GossipStream || kind[0] == GossipPacketPipe {
		if n := t.inboundOpen.Add(1); n > int64(t.cfg.MaxInbound) {
			t.inboundOpen.Add(-1)
			t.inboundRefused.Add(1)
			t.logger.Warn("too many incoming gossip connections from the gateways; closing", "remote", remote,
				"limit", t.cfg.MaxInbound, "refused_total", t.inboundRefused.Load())
			conn.Close()
			return
		}
	}
	switch kind[0] {
	case GossipStream:
		_ = conn.SetReadDeadline(time.Time{})
		sc := &inboundStream{Conn: conn, t: t}
		select {
		case t.streamCh <- sc:
			t.streamsAccepted.Add(1)
		case <-t.shutdownCh:
			sc.Close()
		case <-closed:
			sc.Close()
		}
	case GossipPacketPipe:
		defer t.inboundOpen.Add(-1)
		if !t.trackInbound(conn) {
			conn.Close()
			return
		}
		defer t.untrackInbound(conn)
		t.readPipe(conn, remote, closed)
	default:
		t.logger.Warn("unknown gossip connection kind; closing", "remote", remote, "kind", int(kind[0]))
		conn.Close()
	}
}

// inboundStream is an incoming stream handed to memberlist; closing it
// gives its MaxInbound slot back.
type inboundStream struct {
	net.Conn
	t    *GatewayTransport
	once sync.Once
}

// Close closes the stream and gives its slot back.
func (s *inboundStream) Close() error {
	s.once.Do(func() { s.t.inboundOpen.Add(-1) })
	return s.Conn.Close()
}

func (t *GatewayTransport) trackInbound(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shutdown {
		return false
	}
	t.inbound[c] = struct{}{}
	return true
}

func (t *GatewayTransport) untrackInbound(c net.Conn) {
	t.mu.Lock()
	delete(t.inbound, c)
	t.mu.Unlock()
	c.Close()
}

// readPipe reads a pipe's preamble and then its packets until EOF, each
// frame within twice the idle timeout (a live sender closes its idle
// pipe before), until Shutdown or closed.
func (t *GatewayTransport) readPipe(conn net.Conn, remote string, closed <-chan struct{}) {
	br := bufio.NewReader(conn)
	var hdr [4]byte
	if _, err := io.ReadFull(br, hdr[:2]); err != nil {
		t.logger.Debug("gossip pipe closed before its sender", "remote", remote, "error", err)
		return
	}
	n := int(binary.BigEndian.Uint16(hdr[:2]))
	if n == 0 || n > maxFromLen {
		t.logger.Warn("gossip pipe with a bad sender length; closing", "remote", remote, "length", n)
		return
	}
	fromBuf := make([]byte, n)
	if _, err := io.ReadFull(br, fromBuf); err != nil {
		t.logger.Debug("gossip pipe closed in its sender", "remote", remote, "error", err)
		return
	}
	ap, err := netip.ParseAddrPort(string(fromBuf))
	if err != nil {
		t.logger.Warn("gossip pipe with a bad sender address; closing", "remote", remote, "from", string(fromBuf))
		return
	}
	from := net.UDPAddrFromAddrPort(ap)
	frameTimeout := 2 * t.cfg.IdleTimeout
	for {
		_ = conn.SetReadDeadline(time.Now().Add(frameTimeout))
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				t.logger.Debug("gossip pipe ended", "remote", remote, "from", from.String(), "error", err)
			}
			return
		}
		size := binary.BigEndian.Uint32(hdr[:])
		if size == 0 || size > MaxGossipPacket {
			t.logger.Warn("gossip pipe sent a bad packet length; closing", "remote", remote, "from", from.String(), "length", size)
			return
		}
		buf := make([]byte, size)
		if _, err := io.ReadFull(br, buf); err != nil {
			t.logger.Debug("gossip pipe ended in a packet", "remote", remote, "error", err)
			return
		}
		t.received.Add(1)
		select {
		case t.packetCh <- &memberlist.Packet{Buf: buf, From: from, Timestamp: time.Now()}:
		case <-t.shutdownCh:
			return
		case <-closed:
			return
		}
	}
}

// Stats returns the transport's counters.
func (t *GatewayTransport) Stats() GatewayStats {
	t.mu.Lock()
	pipes := len(t.pipes)
	t.mu.Unlock()
	return GatewayStats{
		PacketsSent: t.sent.Load(), PacketsDropped: t.dropped.Load(), PacketsReceived: t.received.Load(),
		StreamsDialed: t.streamsDialed.Load(), StreamsAccepted: t.streamsAccepted.Load(),
		PipeDials: t.pipeDials.Load(), Pipes: pipes,
		PacketsNoRoute: t.packetsNoRoute.Load(), StreamsNoRoute: t.streamsNoRoute.Load(),
		InboundRefused: t.inboundRefused.Load(),
	}
}

// Shutdown closes every pipe and incoming connection, shuts the base
// transport down and waits for the transport's goroutines. memberlist
// calls it, and so does the agent (the WAN pool may never have started);
// it is idempotent.
func (t *GatewayTransport) Shutdown() error {
	var err error
	t.shutdownOnce.Do(func() { err = t.shutdownNow() })
	return err
}

func (t *GatewayTransport) shutdownNow() error {
	t.mu.Lock()
	t.shutdown = true
	inbound := make([]net.Conn, 0, len(t.inbound))
	for c := range t.inbound {
		inbound = append(inbound, c)
	}
	t.mu.Unlock()
	t.cancel()
	close(t.shutdownCh)
	for _, c := range inbound {
		c.Close()
	}
	var err error
	if t.base != nil {
		// The base's listeners block handing over what they read; with
		// the forwarders gone (and memberlist perhaps never started),
		// what they still read is dropped here until they have stopped.
		drained := make(chan struct{})
		stop := make(chan struct{})
		go func() {
			defer close(drained)
			for {
				select {
				case <-t.base.PacketCh():
				case c := <-t.base.StreamCh():
					c.Close()
				case <-stop:
					return
				}
			}
		}()
		err = t.base.Shutdown()
		close(stop)
		<-drained
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if werr := waitctx.Wait(ctx, &t.wg); werr != nil {
		err = errors.Join(err, fmt.Errorf("gateway transport: shutdown: %w", werr))
	}
	return err
}

// pipe is the packet pipe to one member of another datacenter: a queue
// and the goroutine that dials, writes and redials.
type pipe struct {
	t    *GatewayTransport
	name string
	q    chan []byte
	// dc and rpcAddr are guarded by t.mu; the latest route is used at
	// each dial.
	dc, rpcAddr string
}

// run writes queued packets to the pipe's connection, dialing it when a
// packet waits and none is up, backing off after failures, until the
// pipe has been idle for IdleTimeout or the transport shuts down.
func (p *pipe) run() {
	t := p.t
	var conn net.Conn
	var bw *bufio.Writer
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	idle := time.NewTimer(t.cfg.IdleTimeout)
	defer idle.Stop()
	backoff := time.Duration(0)
	var failedAt time.Time
	for {
		var pkt []byte
		select {
		case pkt = <-p.q:
		case <-idle.C:
			if p.retire() {
				return
			}
			idle.Reset(t.cfg.IdleTimeout)
			continue
		case <-t.shutdownCh:
			return
		}
		idle.Reset(t.cfg.IdleTimeout)
		if conn == nil {
			if wait := time.Until(failedAt.Add(backoff)); wait > 0 {
				// Still backing off: the packet is lost, as over a
				// dead network.
				t.dropped.Add(1)
				continue
			}
			var err error
			conn, err = p.dial()
			if err != nil {
				backoff = min(max(2*backoff, t.cfg.MinBackoff), t.cfg.MaxBackoff)
				failedAt = time.Now()
				t.dropped.Add(1)
				t.logger.Debug("gossip pipe dial failed", "member", p.name, "backoff", backoff, "error", err)
				continue
			}
			bw = bufio.NewWriterSize(conn, 64<<10)
		}
		err := p.write(conn, bw, pkt)
		if err != nil {
			t.logger.Debug("gossip pipe write failed; dialing again", "member", p.name, "error", err)
			conn.Close()
			conn, bw = nil, nil
			backoff = min(max(2*backoff, t.cfg.MinBackoff), t.cfg.MaxBackoff)
			failedAt = time.Now()
			continue
		}
		backoff = 0
	}
}

// write writes pkt and whatever else is queued, then flushes.
func (p *pipe) write(conn net.Conn, bw *bufio.Writer, pkt []byte) error {
	t := p.t
	_ = conn.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout))
	var hdr [4]byte
batch:
	for n := 0; ; n++ {
		binary.BigEndian.PutUint32(hdr[:], uint32(len(pkt)))
		if _, err := bw.Write(hdr[:]); err != nil {
			t.dropped.Add(1)
			return err
		}
		if _, err := bw.Write(pkt); err != nil {
			t.dropped.Add(1)
			return err
		}
		t.sent.Add(1)
		if n >= 64 {
			break
		}
		select {
		case pkt = <-p.q:
		default:
			break batch
		}
	}
	return bw.Flush()
}

// dial opens the pipe's connection and writes its preamble. A reader
// closes the connection as soon as the far end does, so that the next
// write fails at once and the pipe is dialed again.
func (p *pipe) dial() (net.Conn, error) {
	t := p.t
	t.mu.Lock()
	dc, rpcAddr := p.dc, p.rpcAddr
	t.mu.Unlock()
	t.pipeDials.Add(1)
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.DialTimeout)
	defer cancel()
	conn, err := t.cfg.Dial(ctx, dc, rpcAddr)
	if err != nil {
		return nil, err
	}
	from := t.cfg.AdvertiseAddr
	pre := make([]byte, 0, 3+len(from))
	pre = append(pre, GossipPacketPipe)
	pre = binary.BigEndian.AppendUint16(pre, uint16(len(from)))
	pre = append(pre, from...)
	// Shutdown closes it, so that a write stuck on it does not hold
	// Shutdown up for WriteTimeout.
	stop := context.AfterFunc(t.ctx, func() { conn.Close() })
	_ = conn.SetWriteDeadline(time.Now().Add(t.cfg.WriteTimeout))
	if _, err := conn.Write(pre); err != nil {
		stop()
		conn.Close()
		return nil, err
	}
	t.wg.Go(func() {
		_, _ = io.Copy(io.Discard, conn)
		stop()
		conn.Close()
	})
	return conn, nil
}

// retire removes the idle pipe from the transport unless a packet came
// in meanwhile; true when it is gone.
func (p *pipe) retire() bool {
	t := p.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(p.q) > 0 {
		return false
	}
	if t.pipes[p.name] == p {
		delete(t.pipes, p.name)
	}
	return true
}
