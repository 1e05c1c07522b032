package testutil

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a testing.TB that records a failure instead of reporting it,
// so the helpers' failure path can be tested. Fatalf ends the goroutine, as
// the real one does.
type recorder struct {
	testing.TB
	failed atomic.Value // string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed.Store(fmt.Sprintf(format, args...))
	runtime.Goexit()
}

// run calls f with a recorder on its own goroutine (Fatalf ends it) and
// returns the failure message, "" when f returned normally.
func run(t *testing.T, f func(tb testing.TB)) string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("helper did not return")
	}
	msg, _ := r.failed.Load().(string)
	return msg
}

func TestWaitForReturnsOnceTrue(t *testing.T) {
	var calls atomic.Int32
	msg := run(t, func(tb testing.TB) {
		WaitFor(tb, 5*time.Second, "third call", func() bool { return calls.Add(1) >= 3 })
	})
	if msg != "" {
		t.Fatalf("failed: %s", msg)
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("cond called %d times, want 3", n)
	}
}

func TestWaitForFailsAtDeadline(t *testing.T) {
	start := time.Now()
	msg := run(t, func(tb testing.TB) {
		WaitFor(tb, 100*time.Millisecond, "the impossible", func() bool { return false })
	})
	took := time.Since(start)
	if !strings.Contains(msg, "timed out after 100ms waiting for the impossible") {
		t.Fatalf("message %q does not name the wait", msg)
	}
	if took < 100*time.Millisecond || took > 2*time.Second {
		t.Fatalf("gave up after %v, want about 100ms", took)
	}
}

func TestWaitForErrReportsLastError(t *testing.T) {
	var calls atomic.Int32
	msg := run(t, func(tb testing.TB) {
		WaitForErr(tb, 50*time.Millisecond, "leader", func() error {
			return fmt.Errorf("attempt %d: no leader", calls.Add(1))
		})
	})
	last := fmt.Sprintf("attempt %d: no leader", calls.Load())
	if !strings.Contains(msg, "waiting for leader: "+last) {
		t.Fatalf("message %q does not end with the last error %q", msg, last)
	}
}

func TestPoll(t *testing.T) {
	// Never called more than once when the condition holds at once.
	var calls int
	if err := Poll(time.Second, func() error { calls++; return nil }); err != nil || calls != 1 {
		t.Fatalf("Poll = %v after %d calls", err, calls)
	}
	// A zero budget still tries once and returns cond's own error.
	errNo := errors.New("no")
	if err := Poll(0, func() error { return errNo }); !errors.Is(err, errNo) {
		t.Fatalf("Poll(0) = %v, want %v", err, errNo)
	}
	// The polls are frequent at first but do not spin: over 200ms the
	// interval grows to its cap, so there are tens of calls, not thousands.
	calls = 0
	Poll(200*time.Millisecond, func() error { calls++; return errNo })
	if calls < 5 || calls > 100 {
		t.Fatalf("%d polls in 200ms", calls)
	}
}
