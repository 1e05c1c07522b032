package local

import (
	"context"
	"time"
)

// reapLoop removes services whose checks stay critical past their
// deregister_critical_service_after, every ReapInterval.
func (s *State) reapLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.ReapInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.reap()
		}
	}
}

// reap removes (and un-persists) each service with a check critical for
// longer than its DeregisterCriticalServiceAfter.
func (s *State) reap() {
	now := s.cfg.Now()
	s.mu.Lock()
	doomed := map[string]time.Duration{}
	for _, c := range s.checks {
		if c.deleted || c.ct == nil || c.check.ServiceID == "" || c.ct.DeregisterCriticalServiceAfter <= 0 {
			continue
		}
		if c.check.Status != "critical" || c.criticalSince.IsZero() {
			continue
		}
		if d := now.Sub(c.criticalSince); d > c.ct.DeregisterCriticalServiceAfter {
			doomed[c.check.ServiceID] = d
		}
	}
	s.mu.Unlock()
	for id, d := range doomed {
		if err := s.RemoveService(id, true); err == nil {
			s.logger.Info("removed service whose check stayed critical", "service", id, "critical_for", d)
		}
	}
}
