// Package notify is a one-to-many change signal: a channel closed and
// replaced at every change, so any number of waiters wake on the next one
// without registering. The agent uses it to wake the HTTP API's blocking
// reads of agent-local data (services, checks, user events).
package notify

import "sync"

// Broadcast is a change signal. The zero value is not ready; use New. It
// is safe for concurrent use.
type Broadcast struct {
	// mu guards ch.
	mu sync.Mutex
	ch chan struct{}
}

// New returns a Broadcast with no change pending.
func New() *Broadcast { return &Broadcast{ch: make(chan struct{})} }

// Wait returns a channel closed at the next Notify after the call.
func (b *Broadcast) Wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

// Notify wakes every waiter.
func (b *Broadcast) Notify() {
	b.mu.Lock()
	close(b.ch)
	b.ch = make(chan struct{})
	b.mu.Unlock()
}
