package checks

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"consulate/structs"
)

// grpcCheck asks a server's standard gRPC health service
// (grpc.health.v1.Health/Check) about "host:port/service" (the whole
// server when no service is given): SERVING is passing, any other answer
// or error critical.
type grpcCheck struct {
	id      string
	target  string
	addr    string
	service string
	creds   credentials.TransportCredentials
	timeout time.Duration
	n       Notifier
}

func newGRPCCheck(id string, ct *structs.CheckType, interval time.Duration, n Notifier) (*grpcCheck, error) {
	addr, service, _ := strings.Cut(ct.GRPC, "/")
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("%w: check %q: bad gRPC target %q: %v", ErrInvalidCheck, id, ct.GRPC, err)
	}
	creds := insecure.NewCredentials()
	if ct.GRPCUseTLS {
		creds = credentials.NewTLS(&tls.Config{
			InsecureSkipVerify: ct.TLSSkipVerify, //nolint:gosec // the user asked for it
			ServerName:         ct.TLSServerName,
		})
	}
	return &grpcCheck{
		id: id, target: ct.GRPC, addr: addr, service: service, creds: creds,
		timeout: timeoutOr(ct.Timeout, DefaultHTTPTCPTimeout), n: n,
	}, nil
}

func (c *grpcCheck) run(ctx context.Context) {
	err := c.probe(ctx)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		c.n.UpdateCheck(c.id, structs.HealthCritical, fmt.Sprintf("gRPC check %s: failed: %v", c.target, err))
		return
	}
	c.n.UpdateCheck(c.id, structs.HealthPassing, fmt.Sprintf("gRPC check %s: success", c.target))
}

func (c *grpcCheck) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conn, err := grpc.NewClient("passthrough:///"+c.addr, grpc.WithTransportCredentials(c.creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: c.service}, grpc.WaitForReady(true))
	if err != nil {
		return err
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("service status %s", s)
	}
	return nil
}
