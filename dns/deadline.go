package dns

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// lookupContext is the context of one lookup: its parent's values and
// cancellation plus the lookup's own deadline. It is built for the fast
// path, a lookup the cache answers from memory without waiting: such a
// lookup must not pay for a timer (context.WithDeadline costs about as
// much as the whole lookup) nor even read the clock. So the deadline is
// fixed, timeout from then, the first time anyone asks for it (Deadline,
// Err or Done; the backend call follows the start of the lookup within
// microseconds), and the timer is armed only when something waits on Done
// or derives a context. Arming counts against the server's limit on
// waiting lookups: beyond it the context is born cancelled, so the backend
// gives up at once.
//
// A context that was never armed is reused by the next lookup on the same
// pooled request (see reuse), so the fast path allocates nothing.
//
// Once armed it delegates to a context.WithDeadline, whose Value also
// answers the context package's own lookup of the cancelable parent, so a
// context derived from this one is linked to it without a goroutine.
type lookupContext struct {
	// mu guards every field.
	mu      sync.Mutex
	parent  context.Context
	timeout time.Duration
	limit   *waitLimit
	// deadline is zero until first asked for.
	deadline time.Time
	armed    context.Context
	cancel   context.CancelFunc
	// err is what Err reported (or release decided) while not armed; an
	// armed context made later reports the same.
	err error
	// counted records that arming took a place in limit.
	counted bool
}

// ErrTooManyWaiting is the cause (context.Cause) of a lookup context that
// gave up at once because Config.MaxWaitingLookups lookups were waiting.
var ErrTooManyWaiting = errors.New("dns: too many lookups waiting on the backend")

// waitLimit counts lookups waiting on the backend.
type waitLimit struct {
	n   atomic.Int64
	max int64
}

// take reports whether there was room for one more; a nil limit always has.
func (l *waitLimit) take() bool {
	if l == nil {
		return true
	}
	if l.n.Add(1) > l.max {
		l.n.Add(-1)
		return false
	}
	return true
}

func (l *waitLimit) give() {
	if l != nil {
		l.n.Add(-1)
	}
}

// Waiting is the number of lookups waiting on the backend now.
func (s *Server) Waiting() int { return int(s.waiting.n.Load()) }

var _ context.Context = (*lookupContext)(nil)

// newLookupContext returns the context of a lookup bounded by timeout;
// limit, if not nil, bounds how many such contexts may be armed at once.
func newLookupContext(parent context.Context, timeout time.Duration, limit *waitLimit) *lookupContext {
	return &lookupContext{parent: parent, timeout: timeout, limit: limit}
}

// reuse readies a released c for another lookup, and reports whether it
// could: a context that was ever armed may have been waited on, or linked
// to by a derived context, and is never reused. A caller that kept an
// unarmed context after its call returned sees it start over; Backend's
// contract rules that out.
func (c *lookupContext) reuse(parent context.Context, timeout time.Duration, limit *waitLimit) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed != nil || c.counted {
		return false
	}
	c.parent, c.timeout, c.limit = parent, timeout, limit
	c.deadline, c.err = time.Time{}, nil
	return true
}

// deadlineLocked returns the deadline, fixing it on first use.
func (c *lookupContext) deadlineLocked() time.Time {
	if c.deadline.IsZero() {
		c.deadline = time.Now().Add(c.timeout)
	}
	return c.deadline
}

// arm returns the real context, making it on first use.
func (c *lookupContext) arm() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed == nil {
		switch c.err {
		case nil:
			if c.counted = c.limit.take(); !c.counted {
				// Too many lookups wait already: this one gives up now.
				c.err = context.Canceled
				armed, cancel := context.WithCancelCause(c.parent)
				cancel(ErrTooManyWaiting)
				c.armed, c.cancel = armed, func() { cancel(nil) }
				break
			}
			fallthrough
		case context.DeadlineExceeded:
			c.armed, c.cancel = context.WithDeadline(c.parent, c.deadlineLocked())
		default:
			// Released, or the parent was done: already over.
			c.armed, c.cancel = context.WithCancel(c.parent)
			c.cancel()
		}
	}
	return c.armed
}

func (c *lookupContext) current() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.armed
}

// Deadline returns the lookup's deadline.
func (c *lookupContext) Deadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadlineLocked(), true
}

// Done arms the deadline and returns the channel closed when it passes,
// the parent is done, or the lookup is over.
func (c *lookupContext) Done() <-chan struct{} { return c.arm().Done() }

// Err reports why the context is done, without arming a timer.
func (c *lookupContext) Err() error {
	c.mu.Lock()
	if a := c.armed; a != nil {
		c.mu.Unlock()
		return a.Err()
	}
	defer c.mu.Unlock()
	if c.err == nil {
		if err := c.parent.Err(); err != nil {
			c.err = err
		} else if !time.Now().Before(c.deadlineLocked()) {
			c.err = context.DeadlineExceeded
		}
	}
	return c.err
}

// Value answers from the armed context when there is one, else the parent.
func (c *lookupContext) Value(key any) any {
	c.mu.Lock()
	from := c.armed
	if from == nil {
		from = c.parent
	}
	c.mu.Unlock()
	return from.Value(key)
}

// release ends the lookup: an armed timer is stopped, and anything still
// holding the context sees it done.
func (c *lookupContext) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		c.cancel()
	} else if c.err == nil {
		c.err = context.Canceled
	}
	if c.counted {
		c.counted = false
		c.limit.give()
	}
}
