package checks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"consulate/structs"
)

// udpCheck sends a datagram to an address and reads for a reply, as
// Consul does: a reply or a read timeout is passing (UDP says nothing
// when a datagram is accepted); any other error, such as the ICMP port
// unreachable a closed port answers with (connection refused), is
// critical.
type udpCheck struct {
	id      string
	addr    string
	timeout time.Duration
	n       Notifier
}

func newUDPCheck(id string, ct *structs.CheckType, interval time.Duration, n Notifier) (*udpCheck, error) {
	if _, _, err := net.SplitHostPort(ct.UDP); err != nil {
		return nil, fmt.Errorf("%w: check %q: bad UDP address %q: %v", ErrInvalidCheck, id, ct.UDP, err)
	}
	return &udpCheck{id: id, addr: ct.UDP, timeout: timeoutOr(ct.Timeout, DefaultHTTPTCPTimeout), n: n}, nil
}

func (c *udpCheck) run(ctx context.Context) {
	status, output := c.probe(ctx)
	if ctx.Err() != nil {
		return
	}
	c.n.UpdateCheck(c.id, status, output)
}

func (c *udpCheck) probe(ctx context.Context) (string, string) {
	d := net.Dialer{Timeout: c.timeout}
	conn, err := d.DialContext(ctx, "udp", c.addr)
	if err != nil {
		return structs.HealthCritical, err.Error()
	}
	defer conn.Close()
	deadline := time.Now().Add(c.timeout)
	if err := conn.SetDeadline(deadline); err != nil {
		return structs.HealthCritical, err.Error()
	}
	// Stop waiting at once when the runner stops.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := conn.Write([]byte("Consul health check")); err != nil {
		return structs.HealthCritical, err.Error()
	}
	buf := make([]byte, 1024)
	if _, err := conn.Read(buf); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return structs.HealthCritical, err.Error()
	}
	return structs.HealthPassing, fmt.Sprintf("UDP connect %s: Success", c.addr)
}
