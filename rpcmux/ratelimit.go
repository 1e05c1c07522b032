package rpcmux

import (
	"sync"
	"time"
)

// rateLimiter keeps one token bucket per client IP for calls on the
// port. A bucket idle long enough to have refilled is no different from
// a new one, so the sweep that keeps the map bounded drops exactly those
// and a client gains nothing by being forgotten.
type rateLimiter struct {
	rate  float64 // tokens per second
	burst float64

	// mu guards buckets and lastSweep.
	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

// bucket is one client's tokens as of last.
type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate float64, burst int) *rateLimiter {
	return &rateLimiter{rate: rate, burst: float64(burst), buckets: make(map[string]*bucket)}
}

// refillTime is how long an empty bucket takes to fill up.
func (l *rateLimiter) refillTime() time.Duration {
	const longest = 365 * 24 * time.Hour
	secs := l.burst / l.rate
	if secs >= longest.Seconds() {
		return longest
	}
	return time.Duration(secs * float64(time.Second))
}

// allow takes a token from ip's bucket, or reports false when it is
// empty.
func (l *rateLimiter) allow(ip string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	full := l.refillTime()
	if now.Sub(l.lastSweep) >= max(full, time.Minute) {
		l.sweepLocked(now, full)
	}
	b := l.buckets[ip]
	if b == nil {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[ip] = b
	} else if el := now.Sub(b.last); el > 0 {
		b.tokens = min(l.burst, b.tokens+el.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// sweepLocked drops every bucket that has refilled by now.
func (l *rateLimiter) sweepLocked(now time.Time, full time.Duration) {
	l.lastSweep = now
	for ip, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, ip)
		}
	}
}

// size is the number of buckets kept, for tests.
func (l *rateLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
