package checks

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"consulate/structs"
)

// AliasSource gives alias checks the checks they mirror.
type AliasSource interface {
	// AliasChecks returns the checks of node (the local node when node
	// is "" or the local node's name) and whether serviceID (when not
	// "") is registered there. It blocks until the answer may differ from
	// the one index stood for (0: answer at once) or ctx ends, and
	// returns the index of its answer.
	AliasChecks(ctx context.Context, node, serviceID string, index uint64) (chks structs.HealthChecks, serviceFound bool, next uint64, err error)
}

// Alias pacing: the retry bounds after a failed query, the wait after an
// answer that did not move the index (a blocking query that timed out, or
// a server that does not block), and the least time between queries.
const (
	aliasMinBackoff = time.Second
	aliasMaxBackoff = time.Minute
	aliasSameIndex  = time.Second
	aliasMinGap     = 100 * time.Millisecond
)

// aliasCheck mirrors the aggregate health of a service (its checks and
// its node's) or of a node (its node-level checks), as Consul's alias
// check does: the worst status wins, a service that is not registered
// is critical, and no checks at all is passing.
type aliasCheck struct {
	id      string
	node    string
	local   string // the local node's name, for leaving the check out
	service string
	src     AliasSource
	n       Notifier
	logger  *slog.Logger

	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{}
}

func newAliasCheck(id string, ct *structs.CheckType, src AliasSource, localNode string, n Notifier, logger *slog.Logger) (*aliasCheck, error) {
	if src == nil {
		return nil, fmt.Errorf("%w: alias check %q: no agent state to watch", ErrInvalidCheck, id)
	}
	if ct.AliasService == "" && ct.AliasNode == "" {
		return nil, fmt.Errorf("%w: alias check %q needs alias_service or alias_node", ErrInvalidCheck, id)
	}
	return &aliasCheck{id: id, node: ct.AliasNode, local: localNode, service: ct.AliasService, src: src, n: n, logger: logger}, nil
}

// Start begins watching.
func (c *aliasCheck) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started || c.stopped {
		return
	}
	c.started = true
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan struct{})
	go c.loop(ctx)
}

// Stop ends the watch and waits for it.
func (c *aliasCheck) Stop() {
	c.mu.Lock()
	c.stopped = true
	done := c.done
	if c.cancel != nil {
		c.cancel()
	}
	c.mu.Unlock()
	if done != nil {
		<-done
	}
}

func (c *aliasCheck) loop(ctx context.Context) {
	defer close(c.done)
	var index uint64
	backoff := time.Duration(0)
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	var last time.Time
	failures := 0 // consecutive failed queries
	for {
		if gap := time.Since(last); !last.IsZero() && gap < aliasMinGap && !wait(aliasMinGap-gap) {
			return
		}
		last = time.Now()
		chks, found, next, err := c.src.AliasChecks(ctx, c.node, c.service, index)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			backoff = min(max(2*backoff, aliasMinBackoff), aliasMaxBackoff)
			c.logger.Warn("alias check query failed", "error", err, "retry", backoff)
			// As Consul's: one failure may be a passing hiccup (a leader
			// change); the second in a row marks the check critical.
			if failures++; failures > 1 {
				c.n.UpdateCheck(c.id, structs.HealthCritical, fmt.Sprintf("Failed to query alias target: %v", err))
			}
			index = 0
			if !wait(backoff) {
				return
			}
			continue
		}
		backoff, failures = 0, 0
		status, output := aliasHealth(c.id, c.node, c.local, c.service, chks, found)
		c.n.UpdateCheck(c.id, status, output)
		switch {
		case next < index:
			next = 0 // the index went back (a new leader, a restore): start over
		case next == index:
			if !wait(aliasSameIndex) {
				return
			}
		}
		index = next
	}
}

// aliasHealth folds the target's checks into one status.
// self, the alias check's own ID, is left out when the target is the
// local node (node "" or local, the local node's name).
func aliasHealth(self, node, local, service string, chks structs.HealthChecks, found bool) (string, string) {
	onLocal := node == "" || node == local
	if service != "" && !found {
		where := node
		if where == "" {
			where = "the local node"
		}
		return structs.HealthCritical, fmt.Sprintf("Service %s could not be found on %s", service, where)
	}
	status, output := structs.HealthPassing, "No checks found."
	for _, hc := range chks {
		// Node-level checks count for a service too; another service's
		// checks do not.
		if hc.ServiceID != "" && hc.ServiceID != service || onLocal && hc.CheckID == self {
			continue
		}
		if node != "" && hc.Node != "" && hc.Node != node {
			continue
		}
		switch hc.Status {
		case structs.HealthCritical, structs.HealthMaint:
			return structs.HealthCritical, fmt.Sprintf("Aliased check %q failing: %s", hc.Name, hc.Output)
		case structs.HealthWarning:
			if status != structs.HealthWarning {
				status, output = structs.HealthWarning, fmt.Sprintf("Aliased check %q warning: %s", hc.Name, hc.Output)
			}
		default:
			if status == structs.HealthPassing {
				output = "All checks passing."
			}
		}
	}
	return status, output
}
