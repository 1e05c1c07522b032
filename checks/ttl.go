package checks

import (
	"sync"
	"time"

	"consulate/structs"
)

// TTLRunner is a check that something outside updates. When SetStatus is
// not called within TTL it turns critical with "TTL expired".
type TTLRunner struct {
	id     string
	ttl    time.Duration
	n      Notifier
	maxOut int

	// mu guards the fields below and serialises notifications, so Stop
	// waits for an expiry in flight.
	mu         sync.Mutex
	timer      *time.Timer
	gen        uint64
	lastOutput string
	started    bool
	stopped    bool
}

// NewTTL returns a TTL runner; maxOut bounds output (0 = 4 KiB).
func NewTTL(id string, ttl time.Duration, n Notifier, maxOut int) *TTLRunner {
	if maxOut <= 0 {
		maxOut = DefaultOutputMaxSize
	}
	return &TTLRunner{id: id, ttl: ttl, n: n, maxOut: maxOut}
}

// Start arms the timer.
func (t *TTLRunner) Start() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.started || t.stopped {
		return
	}
	t.started = true
	t.armLocked()
}

// Stop disarms the timer and waits for an expiry in flight.
func (t *TTLRunner) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	t.gen++
	if t.timer != nil {
		t.timer.Stop()
	}
}

func (t *TTLRunner) armLocked() {
	if t.timer != nil {
		t.timer.Stop()
	}
	t.gen++
	gen := t.gen
	t.timer = time.AfterFunc(t.ttl, func() { t.expire(gen) })
}

func (t *TTLRunner) expire(gen uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped || gen != t.gen {
		return
	}
	t.n.UpdateCheck(t.id, structs.HealthCritical, "TTL expired (last output before timeout follows): "+t.lastOutput)
}

// SetStatus reports status and output, restarting the TTL when running.
// It returns the output as stored (bounded).
func (t *TTLRunner) SetStatus(status, output string) string {
	output = truncate(output, t.maxOut)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastOutput = output
	if t.started && !t.stopped {
		t.armLocked()
	}
	t.n.UpdateCheck(t.id, status, output)
	return output
}

// TTL returns the check's time to live.
func (t *TTLRunner) TTL() time.Duration { return t.ttl }
