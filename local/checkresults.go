package local

import (
	"time"

	"consulate/checks"
	"consulate/structs"
)

// runnerNotifier passes one runner's results to the State; results from
// a runner that has been replaced are dropped.
type runnerNotifier struct {
	s       *State
	checkID string
	gen     uint64
}

var _ checks.Notifier = (*runnerNotifier)(nil)

func (n *runnerNotifier) UpdateCheck(id, status, output string) {
	n.s.updateCheck(n.checkID, n.gen, status, output)
}

// updateCheck records a runner's result. Status changes sync at once;
// output-only changes wait CheckUpdateInterval.
func (s *State) updateCheck(id string, gen uint64, status, output string) {
	output = checks.TruncateOutput(output)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.checks[id]
	if c == nil || c.deleted || c.runnerGen != gen {
		return
	}
	hc := c.check
	if hc.Status == status && hc.Output == output {
		return
	}
	statusChanged := hc.Status != status
	if statusChanged {
		s.logger.Debug("check status changed", "check", id, "from", hc.Status, "to", status)
		if status == structs.HealthCritical {
			c.criticalSince = s.cfg.Now()
		} else {
			c.criticalSince = time.Time{}
		}
	}
	hc.Status, hc.Output = status, output
	switch {
	case statusChanged || s.cfg.CheckUpdateInterval == 0:
		s.checkDirtyLocked(c)
		s.changedLocked()
	case c.inSync && c.deferTimer == nil:
		c.deferTimer = time.AfterFunc(s.cfg.CheckUpdateInterval, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.checks[id] != c || c.deleted || c.deferTimer == nil {
				return
			}
			c.deferTimer = nil
			s.checkDirtyLocked(c)
			s.triggerSync()
		})
		s.notifySubsLocked()
	default:
		s.notifySubsLocked()
	}
}
