package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"consulate/structs"
)

// Default limits, as Consul uses them.
const (
	// DefaultOutputMaxSize bounds the output a check keeps.
	DefaultOutputMaxSize = 4 * 1024
	// DefaultHTTPTCPTimeout is the HTTP and TCP timeout when none is given.
	DefaultHTTPTCPTimeout = 10 * time.Second
	// DefaultScriptTimeout is the script timeout when none is given.
	DefaultScriptTimeout = 30 * time.Second
)

// Errors returned by NewRunner.
var (
	// ErrScriptChecksDisabled refuses script checks unless enabled.
	ErrScriptChecksDisabled = errors.New("checks: script checks are disabled (enable_script_checks)")
	// ErrInvalidCheck is a check definition that cannot run.
	ErrInvalidCheck = errors.New("checks: invalid check definition")
)

// Notifier receives check results. UpdateCheck must be thread-safe; it is
// called from runner goroutines and must not call back into the runner
// that reports (it may block briefly).
type Notifier interface {
	UpdateCheck(checkID string, status, output string)
}

// Runner runs one check. Start begins it (a second call does nothing);
// Stop ends it, waits for its goroutine and is idempotent. A runner that
// was stopped cannot be started again.
type Runner interface {
	Start()
	Stop()
}

// Options tune every runner NewRunner builds.
type Options struct {
	// EnableScriptChecks allows script/args checks.
	EnableScriptChecks bool
	// OutputMaxSize bounds check output; 0 means DefaultOutputMaxSize.
	OutputMaxSize int
	// MinInterval raises shorter intervals to it (Consul uses 1s); 0
	// leaves intervals alone.
	MinInterval time.Duration
	// Alias is what alias checks watch; without it they are refused.
	Alias AliasSource
	// NodeName is the local node's name: an alias check whose alias_node
	// names it leaves itself out of what it mirrors.
	NodeName string
}

// DefaultOptions returns Consul's settings: script checks off, 4 KiB
// output, 1s minimum interval.
func DefaultOptions() Options {
	return Options{OutputMaxSize: DefaultOutputMaxSize, MinInterval: time.Second}
}

func (o Options) maxOutput() int {
	if o.OutputMaxSize <= 0 {
		return DefaultOutputMaxSize
	}
	return o.OutputMaxSize
}

// NewRunner builds the runner for ct's kind. It does not start it.
func NewRunner(id string, ct *structs.CheckType, n Notifier, logger *slog.Logger, opts Options) (Runner, error) {
	if ct == nil {
		return nil, fmt.Errorf("%w: no definition", ErrInvalidCheck)
	}
	if id == "" {
		return nil, fmt.Errorf("%w: check ID required", ErrInvalidCheck)
	}
	if n == nil {
		return nil, fmt.Errorf("%w: notifier required", ErrInvalidCheck)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "checks", "check", id)
	kind := ct.Kind()
	maxOut := opts.maxOutput()
	if ct.OutputMaxSize > 0 && ct.OutputMaxSize < maxOut {
		// The check's own bound applies when it is the smaller, as in
		// Consul.
		maxOut = ct.OutputMaxSize
	}
	if ct.OutputMaxSize < 0 || ct.SuccessBeforePassing < 0 || ct.FailuresBeforeWarning < 0 || ct.FailuresBeforeCritical < 0 {
		return nil, fmt.Errorf("%w: %q: output size and thresholds must not be negative", ErrInvalidCheck, id)
	}
	if kind == "ttl" {
		return NewTTL(id, ct.TTL, n, maxOut), nil
	}
	if kind == "alias" {
		return newAliasCheck(id, ct, opts.Alias, opts.NodeName, n, logger)
	}
	if kind == "docker" {
		// Consul runs the args or script inside the container: a script
		// check, under the same gate and needing one of them.
		if len(ct.Args) == 0 && ct.Script == "" {
			return nil, fmt.Errorf("%w: docker check %q needs args or script", ErrInvalidCheck, id)
		}
		if !opts.EnableScriptChecks {
			return nil, fmt.Errorf("%w: check %q", ErrScriptChecksDisabled, id)
		}
		// Not run: critical at once, thresholds or not.
		return &dockerCheck{id: id, container: ct.DockerContainerID, n: n}, nil
	}
	// Every check that runs here counts consecutive results before its
	// status flips (success_before_passing, failures_before_*).
	n = newThresholds(n, ct)
	if kind == "" {
		return nil, fmt.Errorf("%w: %q has none of http, tcp, udp, h2ping, grpc, os_service, ttl, args or script", ErrInvalidCheck, id)
	}
	interval := ct.Interval
	if interval <= 0 {
		return nil, fmt.Errorf("%w: %s check %q needs an interval", ErrInvalidCheck, kind, id)
	}
	if opts.MinInterval > 0 && interval < opts.MinInterval {
		logger.Warn("check interval below minimum, raised", "interval", interval, "minimum", opts.MinInterval)
		interval = opts.MinInterval
	}
	if ct.Timeout < 0 {
		return nil, fmt.Errorf("%w: %q has a negative timeout", ErrInvalidCheck, id)
	}
	switch kind {
	case "http":
		c, err := newHTTPCheck(id, ct, interval, n, maxOut)
		if err != nil {
			return nil, err
		}
		return newPeriodic(interval, c.run), nil
	case "tcp":
		c, err := newTCPCheck(id, ct, interval, n)
		if err != nil {
			return nil, err
		}
		return newPeriodic(interval, c.run), nil
	case "udp":
		c, err := newUDPCheck(id, ct, interval, n)
		if err != nil {
			return nil, err
		}
		return newPeriodic(interval, c.run), nil
	case "h2ping":
		c, err := newH2PingCheck(id, ct, interval, n)
		if err != nil {
			return nil, err
		}
		return newPeriodic(interval, c.run), nil
	case "grpc":
		c, err := newGRPCCheck(id, ct, interval, n)
		if err != nil {
			return nil, err
		}
		return newPeriodic(interval, c.run), nil
	case "os_service":
		c, err := newOSServiceCheck(id, ct, interval, n)
		if err != nil {
			return nil, err
		}
		return newPeriodic(interval, c.run), nil
	case "script":
		if !opts.EnableScriptChecks {
			return nil, fmt.Errorf("%w: check %q", ErrScriptChecksDisabled, id)
		}
		c := newScriptCheck(id, ct, n, maxOut, logger)
		return newPeriodic(interval, c.run), nil
	}
	return nil, fmt.Errorf("%w: unsupported kind %q", ErrInvalidCheck, kind)
}

// defaultOSServiceTimeout bounds an OS service check given no timeout,
// as Consul's does.
const defaultOSServiceTimeout = 30 * time.Second

// timeoutOr is the rule of Consul's UDP, gRPC, H2PING and OS service
// checks: the given timeout, else def, whatever the interval.
func timeoutOr(timeout, def time.Duration) time.Duration {
	if timeout > 0 {
		return timeout
	}
	return def
}

// httpTCPTimeout is Consul's rule: the given timeout when it is shorter
// than the interval, otherwise the interval when that is under 10s,
// otherwise 10s, so a check ends before the next begins.
func httpTCPTimeout(timeout, interval time.Duration) time.Duration {
	switch {
	case timeout > 0 && timeout < interval:
		return timeout
	case interval < DefaultHTTPTCPTimeout:
		return interval
	}
	return DefaultHTTPTCPTimeout
}

// periodic runs fn after a random stagger and then every interval.
type periodic struct {
	interval time.Duration
	fn       func(ctx context.Context)

	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{}
}

func newPeriodic(interval time.Duration, fn func(context.Context)) *periodic {
	return &periodic{interval: interval, fn: fn}
}

func (p *periodic) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.started || p.stopped {
		return
	}
	p.started = true
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done = make(chan struct{})
	go p.loop(ctx)
}

func (p *periodic) Stop() {
	p.mu.Lock()
	p.stopped = true
	done := p.done
	if p.cancel != nil {
		p.cancel()
	}
	p.mu.Unlock()
	if done != nil {
		<-done
	}
}

func (p *periodic) loop(ctx context.Context) {
	defer close(p.done)
	t := time.NewTimer(randomStagger(p.interval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.fn(ctx)
		t.Reset(p.interval)
	}
}

// randomStagger returns a random duration in [0, d).
func randomStagger(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// truncate bounds s to max bytes, saying how much was kept.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("%s ... (captured %d of %d bytes)", s[:max], max, len(s))
}

// TruncateOutput bounds check output to DefaultOutputMaxSize, saying how
// much was kept.
func TruncateOutput(s string) string { return truncate(s, DefaultOutputMaxSize) }
