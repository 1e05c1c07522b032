package gossip

import (
	"math"
	"sync/atomic"
)

// LamportTime is a point in a Lamport clock.
type LamportTime uint64

// lamportClock is a thread-safe Lamport clock.
type lamportClock struct {
	counter atomic.Uint64
}

// Time returns the current value.
func (l *lamportClock) Time() LamportTime { return LamportTime(l.counter.Load()) }

// Increment moves the clock forward and returns the new value.
func (l *lamportClock) Increment() LamportTime { return LamportTime(l.counter.Add(1)) }

// Witness makes the clock later than v, as on receiving a message stamped
// v. The maximum value is refused: moving past it would wrap to zero and
// freeze every later comparison. It loops until it wins or someone else
// has moved the clock past v.
func (l *lamportClock) Witness(v LamportTime) {
	if uint64(v) == math.MaxUint64 {
		return
	}
	for {
		cur := l.counter.Load()
		if uint64(v) < cur {
			return
		}
		if l.counter.CompareAndSwap(cur, uint64(v)+1) {
			return
		}
	}
}
