package gossip

import "sync/atomic"

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

// Witness makes the clock later than v, as on receiving a message stamped v.
func (l *lamportClock) Witness(v LamportTime) {
	for i := 0; i < 64; i++ { // bounded: each failed CAS means someone else moved it forward
		cur := l.counter.Load()
		if uint64(v) < cur {
			return
		}
		if l.counter.CompareAndSwap(cur, uint64(v)+1) {
			return
		}
	}
}
