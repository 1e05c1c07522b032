package gossip

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"time"
)

// WithDefaultPort adds port to the addresses that have none, as the
// -join and -retry-join flags allow ("10.0.0.1" means 10.0.0.1:8301).
func WithDefaultPort(addrs []string, port int) []string {
	out := make([]string, 0, len(addrs))
	for _, addr := range addrs {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			addr = net.JoinHostPort(addr, strconv.Itoa(port))
		}
		out = append(out, addr)
	}
	return out
}

// RetryJoin is retry_join: it calls join until one address answers, max
// attempts are used (0 = unlimited) or ctx ends, waiting interval (30 s
// when 0) between attempts. pool names the pool in the log lines.
func RetryJoin(ctx context.Context, pool string, join func() (int, error), interval time.Duration, max int, logger *slog.Logger) {
	if interval <= 0 {
		interval = 30 * time.Second
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for attempt := 1; max == 0 || attempt <= max; attempt++ {
		n, err := join()
		if err == nil && n > 0 {
			logger.Info("retry join succeeded", "pool", pool, "joined", n, "attempt", attempt)
			return
		}
		logger.Warn("retry join failed", "pool", pool, "attempt", attempt, "error", err)
		t.Reset(interval)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	logger.Error("retry join gave up", "pool", pool, "attempts", max)
}
