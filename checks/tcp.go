package checks

import (
	"context"
	"fmt"
	"net"
	"time"

	"consulate/structs"
)

// tcpCheck connects to an address: success is passing, failure critical.
type tcpCheck struct {
	id      string
	addr    string
	timeout time.Duration
	n       Notifier
}

func newTCPCheck(id string, ct *structs.CheckType, interval time.Duration, n Notifier) (*tcpCheck, error) {
	if _, _, err := net.SplitHostPort(ct.TCP); err != nil {
		return nil, fmt.Errorf("%w: check %q: bad TCP address %q: %v", ErrInvalidCheck, id, ct.TCP, err)
	}
	return &tcpCheck{id: id, addr: ct.TCP, timeout: httpTCPTimeout(ct.Timeout, interval), n: n}, nil
}

func (c *tcpCheck) run(ctx context.Context) {
	d := net.Dialer{Timeout: c.timeout}
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if ctx.Err() != nil {
		if conn != nil {
			conn.Close()
		}
		return
	}
	if err != nil {
		c.n.UpdateCheck(c.id, structs.HealthCritical, err.Error())
		return
	}
	conn.Close()
	c.n.UpdateCheck(c.id, structs.HealthPassing, fmt.Sprintf("TCP connect %s: Success", c.addr))
}
