package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"runtime"
	"sync"
	"time"

	"consulate/structs"
)

// scriptCheck runs a command: exit 0 is passing, 1 warning, anything else
// critical. Output (stdout and stderr together) is bounded; the process
// group is killed at the timeout.
type scriptCheck struct {
	id      string
	args    []string
	timeout time.Duration
	n       Notifier
	maxOut  int
	logger  *slog.Logger
}

func newScriptCheck(id string, ct *structs.CheckType, n Notifier, maxOut int, logger *slog.Logger) *scriptCheck {
	args := ct.Args
	if len(args) == 0 {
		if runtime.GOOS == "windows" {
			args = []string{"cmd", "/C", ct.Script}
		} else {
			args = []string{"/bin/sh", "-c", ct.Script}
		}
	}
	timeout := ct.Timeout
	if timeout <= 0 {
		timeout = DefaultScriptTimeout
	}
	return &scriptCheck{id: id, args: append([]string(nil), args...), timeout: timeout, n: n, maxOut: maxOut, logger: logger}
}

func (c *scriptCheck) run(ctx context.Context) {
	tctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	out := &tailBuffer{max: c.maxOut}
	cmd := exec.CommandContext(tctx, c.args[0], c.args[1:]...)
	cmd.Stdout = out
	cmd.Stderr = out
	setProcessGroup(cmd)
	// Grandchildren may hold the pipes open; do not wait on them forever.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return // stopped
	}
	if errors.Is(tctx.Err(), context.DeadlineExceeded) {
		c.logger.Warn("check timed out", "timeout", c.timeout)
		c.n.UpdateCheck(c.id, structs.HealthCritical, fmt.Sprintf("Timed out (%s) running check", c.timeout))
		return
	}
	output := out.String()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		c.n.UpdateCheck(c.id, structs.HealthPassing, output)
	case errors.As(err, &exitErr) && exitErr.ExitCode() == 1:
		c.n.UpdateCheck(c.id, structs.HealthWarning, output)
	case errors.As(err, &exitErr):
		c.n.UpdateCheck(c.id, structs.HealthCritical, output)
	default:
		// It never ran (not found, not executable).
		c.n.UpdateCheck(c.id, structs.HealthCritical, fmt.Sprintf("Failed to run check: %v", err))
	}
}

// tailBuffer keeps the last max bytes written and counts them all.
type tailBuffer struct {
	mu    sync.Mutex
	max   int
	buf   []byte
	total int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total += len(p)
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.total > len(b.buf) {
		return fmt.Sprintf("Captured %d of %d bytes\n...\n%s", len(b.buf), b.total, b.buf)
	}
	return string(b.buf)
}
