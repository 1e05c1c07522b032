package dns

import (
	"context"
	"sync"
	"time"
)

// lookupContext is the context of one lookup: its parent's values and
// cancellation plus the lookup's own deadline. The timer behind the
// deadline is armed only when something waits on Done (or derives a
// context from it), so a lookup the cache answers from memory, which
// never waits, pays for no timer: context.WithDeadline costs about as much
// as the whole of such a lookup.
//
// Once armed it delegates to a context.WithDeadline, whose Value also
// answers the context package's own lookup of the cancelable parent, so a
// context derived from this one is linked to it without a goroutine.
type lookupContext struct {
	parent   context.Context
	deadline time.Time

	// mu guards armed, cancel and err.
	mu     sync.Mutex
	armed  context.Context
	cancel context.CancelFunc
	// err is what Err reported (or release decided) while not armed; an
	// armed context made later reports the same.
	err error
}

var _ context.Context = (*lookupContext)(nil)

func newLookupContext(parent context.Context, deadline time.Time) *lookupContext {
	return &lookupContext{parent: parent, deadline: deadline}
}

// arm returns the real context, making it on first use.
func (c *lookupContext) arm() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed == nil {
		switch c.err {
		case nil, context.DeadlineExceeded:
			c.armed, c.cancel = context.WithDeadline(c.parent, c.deadline)
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
func (c *lookupContext) Deadline() (time.Time, bool) { return c.deadline, true }

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
		} else if !time.Now().Before(c.deadline) {
			c.err = context.DeadlineExceeded
		}
	}
	return c.err
}

// Value answers from the armed context when there is one, else the parent.
func (c *lookupContext) Value(key any) any {
	if a := c.current(); a != nil {
		return a.Value(key)
	}
	return c.parent.Value(key)
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
}
