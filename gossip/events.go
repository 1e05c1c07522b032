package gossip

import (
	"fmt"
	"log/slog"
	"sync"

	"consulate/structs"
)

// EventType is the kind of an Event.
type EventType int

// Event types.
const (
	MemberJoin EventType = iota + 1
	MemberLeave
	MemberFailed
	MemberUpdate
	MemberReap
	User
)

func (t EventType) String() string {
	switch t {
	case MemberJoin:
		return "member-join"
	case MemberLeave:
		return "member-leave"
	case MemberFailed:
		return "member-failed"
	case MemberUpdate:
		return "member-update"
	case MemberReap:
		return "member-reap"
	case User:
		return "user"
	}
	return fmt.Sprintf("unknown-event(%d)", int(t))
}

// Event is a change in the pool: members joined, left, failed, changed or
// were reaped, or a user event arrived (User is set only for Type User).
type Event struct {
	Type    EventType
	Members []structs.Member
	User    *structs.UserEvent
	// Coalesce is set for user events fired with coalescing.
	Coalesce bool
}

func (e Event) String() string {
	if e.Type == User && e.User != nil {
		return fmt.Sprintf("user-event: %s", e.User.Name)
	}
	return e.Type.String()
}

// eventQueue is a bounded queue between memberlist's goroutines (which must
// never block) and the consumer of Events(). One goroutine (run) drains it.
type eventQueue struct {
	mu      sync.Mutex
	pending []Event
	max     int
	dropped uint64
	signal  chan struct{}
	out     chan Event
	logger  *slog.Logger
}

func newEventQueue(max int, logger *slog.Logger) *eventQueue {
	return &eventQueue{
		max:    max,
		signal: make(chan struct{}, 1),
		out:    make(chan Event),
		logger: logger,
	}
}

// push queues e without blocking. A coalescing user event replaces a pending
// one of the same name with an older Lamport time.
func (q *eventQueue) push(e Event) {
	q.mu.Lock()
	replaced := false
	if e.Type == User && e.Coalesce && e.User != nil {
		for i := range q.pending {
			p := &q.pending[i]
			if p.Type == User && p.Coalesce && p.User != nil && p.User.Name == e.User.Name {
				if p.User.LTime <= e.User.LTime {
					*p = e
				}
				replaced = true
				break
			}
		}
	}
	dropped := false
	if !replaced {
		if len(q.pending) >= q.max {
			q.dropped++
			dropped = true
		} else {
			q.pending = append(q.pending, e)
		}
	}
	n := q.dropped
	q.mu.Unlock()
	if dropped {
		if n == 1 || n%100 == 0 {
			q.logger.Warn("event queue full, dropping event; is anyone reading Events()?",
				"event", e.String(), "dropped_total", n)
		}
		return
	}
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *eventQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// run hands queued events to the consumer until stop closes, then closes out.
func (q *eventQueue) run(stop <-chan struct{}) {
	defer close(q.out)
	for {
		q.mu.Lock()
		var next *Event
		if len(q.pending) > 0 {
			e := q.pending[0]
			q.pending[0] = Event{}
			q.pending = q.pending[1:]
			next = &e
		}
		q.mu.Unlock()
		if next == nil {
			select {
			case <-q.signal:
				continue
			case <-stop:
				return
			}
		}
		select {
		case q.out <- *next:
		case <-stop:
			return
		}
	}
}
