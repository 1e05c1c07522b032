package gossip

import (
	"fmt"
	"net"
	"time"

	"github.com/hashicorp/memberlist"
)

// boundTransport is memberlist's NetTransport whose stream (TCP) dials
// leave from the bind address. memberlist's own dialer lets the kernel
// choose the source, so on a host with several addresses (or agents on
// 127.0.0.x) a push-pull or a fallback probe would come from another
// address than the packets, and firewall rules or partitions on the
// agent's address would not apply to it. UDP already leaves from the
// bound socket.
type boundTransport struct {
	*memberlist.NetTransport
	dialer net.Dialer
}

var _ memberlist.NodeAwareTransport = (*boundTransport)(nil)

// newBoundTransport listens on bind:port and dials from bind. It is only
// for a specific address and a fixed port; for 0.0.0.0 or an automatic
// port memberlist's default transport already does the right thing.
func newBoundTransport(mc *memberlist.Config, bind net.IP, port int) (*boundTransport, error) {
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs:    []string{bind.String()},
		BindPort:     port,
		Logger:       mc.Logger,
		MetricLabels: mc.MetricLabels,
	})
	if err != nil {
		return nil, fmt.Errorf("could not set up network transport: %w", err)
	}
	return &boundTransport{NetTransport: nt, dialer: net.Dialer{LocalAddr: &net.TCPAddr{IP: bind}}}, nil
}

// DialTimeout opens a stream to addr from the bind address.
func (t *boundTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	d := t.dialer
	d.Timeout = timeout
	return d.Dial("tcp", addr)
}

// DialAddressTimeout opens a stream to a.Addr from the bind address.
func (t *boundTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}
