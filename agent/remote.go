package agent

import (
	"errors"
	"sync"
	"time"

	"consulate/structs"
)

// remoteHealth remembers, per remote datacenter, whether the last calls
// found a path to it, and is the DNS cache's Reachable hook.
//
// The cache serves no remote datacenter's answers from memory: it cannot
// know that the WAN was cut a moment ago, so it would answer NOERROR from
// a view that may be dead until its refresh failed (for over a second
// into a cut, as e2e/TestWANPartition measured). Read through, a lookup
// gets the router's answer: fresh, or SERVFAIL within milliseconds once
// the servers know the datacenter is unreachable. Consul's DNS also reads
// from the servers unless use_cache is set.
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

// reachable tells the DNS cache whether it may answer for dc from memory:
// never for another datacenter (see remoteHealth).
func (r *remoteHealth) reachable(string) bool { return false }
