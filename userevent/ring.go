package userevent

import (
	"sync"

	"consulate/structs"
)

// DefaultRingSize is how many recent events an agent keeps.
const DefaultRingSize = 256

// Ring keeps the most recent user events, oldest first, each ID once. It
// is safe for concurrent use.
type Ring struct {
	max int

	// mu guards events.
	mu     sync.Mutex
	events []*structs.UserEvent
}

// NewRing returns an empty ring keeping at most max events (at least one).
func NewRing(max int) *Ring {
	if max < 1 {
		max = 1
	}
	return &Ring{max: max}
}

// Add appends ev unless an event with its ID is already kept, dropping
// the oldest beyond the bound. It reports whether ev was added.
func (r *Ring) Add(ev *structs.UserEvent) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.ID == ev.ID {
			return false
		}
	}
	r.events = append(r.events, ev)
	if len(r.events) > r.max {
		r.events = r.events[len(r.events)-r.max:]
	}
	return true
}

// List returns the kept events, oldest first, in a new slice.
func (r *Ring) List() []*structs.UserEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*structs.UserEvent(nil), r.events...)
}
