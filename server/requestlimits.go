package server

import (
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"consulate/structs"
)

// Modes of limits.request_limits, as Consul 1.16 names them.
const (
	// RequestLimitsDisabled turns the global limit off (Consul's default).
	RequestLimitsDisabled = "disabled"
	// RequestLimitsPermissive logs the requests over the limit and serves
	// them anyway, for sizing the limits before enforcing them.
	RequestLimitsPermissive = "permissive"
	// RequestLimitsEnforcing refuses the requests over the limit with
	// structs.ErrRateLimited.
	RequestLimitsEnforcing = "enforcing"
)

// validateRequestLimits checks mode and rates: a rate must be positive
// (+Inf for no limit) unless the mode is disabled.
func validateRequestLimits(mode string, read, write float64) error {
	switch mode {
	case "", RequestLimitsDisabled:
		return nil
	case RequestLimitsPermissive, RequestLimitsEnforcing:
	default:
		return fmt.Errorf("%w: request limits mode %q must be one of %q, %q, %q",
			ErrInvalidConfig, mode, RequestLimitsDisabled, RequestLimitsPermissive, RequestLimitsEnforcing)
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"read", read}, {"write", write}} {
		if math.IsNaN(r.v) || r.v <= 0 {
			return fmt.Errorf("%w: request limits %s rate must be positive (+Inf for no limit), got %v", ErrInvalidConfig, r.name, r.v)
		}
	}
	return nil
}

// requestLimiter is the global limit of one server on the requests it
// receives (limits.request_limits): one token bucket for reads and one for
// writes, each with a burst of one second's worth of requests, as Consul's.
type requestLimiter struct {
	enforce bool
	read    *rate.Limiter
	write   *rate.Limiter
	logger  *slog.Logger
	// logEvery bounds the log lines about exceeded limits: one per
	// interval per kind, with the count of the requests since the last.
	logEvery              time.Duration
	readLogAt, writeLogAt atomic.Int64 // unix nanos of the last line
	readOver, writeOver   atomic.Uint64
}

// newRequestLimiter returns nil when the mode is disabled, or when both
// rates are unlimited.
func newRequestLimiter(mode string, readRate, writeRate float64, logger *slog.Logger) *requestLimiter {
	if mode == "" || mode == RequestLimitsDisabled || (math.IsInf(readRate, 1) && math.IsInf(writeRate, 1)) {
		return nil
	}
	return &requestLimiter{
		enforce:  mode == RequestLimitsEnforcing,
		read:     newBucket(readRate),
		write:    newBucket(writeRate),
		logger:   logger,
		logEvery: 10 * time.Second,
	}
}

func newBucket(r float64) *rate.Limiter {
	if math.IsInf(r, 1) {
		return rate.NewLimiter(rate.Inf, 0)
	}
	return rate.NewLimiter(rate.Limit(r), max(1, int(math.Ceil(r))))
}

// allow takes a token for one request; it returns structs.ErrRateLimited
// when the bucket is empty and the limit is enforced. A nil limiter
// allows everything.
func (l *requestLimiter) allow(method structs.Method, read bool) error {
	if l == nil {
		return nil
	}
	b, logAt, over, kind := l.write, &l.writeLogAt, &l.writeOver, "global/write"
	if read {
		b, logAt, over, kind = l.read, &l.readLogAt, &l.readOver, "global/read"
	}
	if b.Allow() {
		return nil
	}
	over.Add(1)
	now := time.Now().UnixNano()
	if last := logAt.Load(); now-last >= int64(l.logEvery) && logAt.CompareAndSwap(last, now) {
		n := over.Swap(0)
		l.logger.Warn("RPC exceeded allowed rate limit", "rpc", string(method), "limit_type", kind,
			"enforced", l.enforce, "exceeded_since_last_log", n)
	}
	if l.enforce {
		return fmt.Errorf("%w: %s", structs.ErrRateLimited, kind)
	}
	return nil
}
