package agent

import (
	"errors"
	"sync"
	"time"

	"consulate/structs"
)

// remoteHealth remembers, per remote datacenter, whether the last calls
// found a path to it. The DNS cache asks it before serving a remote
// answer from memory, so a datacenter that stopped answering gets
// SERVFAIL rather than a view that may be dead.
type remoteHealth struct {
	hold time.Duration
	// mu guards failedAt and okAt.
	mu       sync.Mutex
	failedAt map[string]time.Time
	okAt     map[string]time.Time
}

func newRemoteHealth(hold time.Duration) *remoteHealth {
	return &remoteHealth{hold: hold, failedAt: map[string]time.Time{}, okAt: map[string]time.Time{}}
}

func (r *remoteHealth) record(dc string, err error) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err == nil:
		r.okAt[dc] = now
	case errors.Is(err, structs.ErrNoDCPath):
		r.failedAt[dc] = now
	}
}

// reachable is false while the newest call to dc found no path, for at
// most hold after it.
func (r *remoteHealth) reachable(dc string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.failedAt[dc]
	if !ok {
		return true
	}
	return f.Before(r.okAt[dc]) || time.Since(f) > r.hold
}
