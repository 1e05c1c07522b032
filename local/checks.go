package local

import (
	"maps"
	"slices"
	"sort"
	"time"

	"consulate/checks"
	"consulate/structs"
)

// checkState is a local check, its definition and its runner.
type checkState struct {
	check  *structs.HealthCheck
	ct     *structs.CheckType // nil for checks nothing runs (maintenance)
	source string
	// token is the ACL token the registration carried (as
	// serviceState.token; a check defined with its service has the
	// service's).
	token string
	// fromService marks checks defined with their service (AddService);
	// re-registering the service replaces only those.
	fromService bool
	runner      checks.Runner
	ttl         *checks.TTLRunner
	// runnerGen identifies the runner allowed to report for this check.
	runnerGen     uint64
	inSync        bool
	deleted       bool
	gen           uint64
	criticalSince time.Time
	// deferTimer is a pending sync of an output-only change.
	deferTimer *time.Timer
}

func (s *State) checkDirtyLocked(c *checkState) {
	c.inSync = false
	c.gen = s.nextGen()
	if c.deferTimer != nil {
		c.deferTimer.Stop()
		c.deferTimer = nil
	}
}

// AddCheck registers a check. ct says how it runs; nil means nothing
// runs it (its status changes only by re-registration). A ServiceID must
// name a local service.
func (s *State) AddCheck(hc *structs.HealthCheck, ct *structs.CheckType, persist bool) error {
	return s.addCheck(hc, ct, persist, SourceAPI, "")
}

// AddCheckWithToken is AddCheck for a registration that carried an ACL
// token: the check syncs with it (see Config.Tokens), and it is
// persisted with it.
func (s *State) AddCheckWithToken(hc *structs.HealthCheck, ct *structs.CheckType, persist bool, token string) error {
	return s.addCheck(hc, ct, persist, SourceAPI, token)
}

func (s *State) addCheck(hc *structs.HealthCheck, ct *structs.CheckType, persist bool, source, token string) error {
	if hc == nil {
		return badInput(ErrInvalidCheck, "check definition missing")
	}
	if source == "" {
		// Only what the catalog alone holds has no source.
		source = SourceAPI
	}
	var svc *structs.NodeService
	if hc.ServiceID != "" {
		svc = s.Service(hc.ServiceID)
		if svc == nil {
			return badInput(ErrInvalidCheck, "check %q: ServiceID %q does not name a registered service", hc.CheckID, hc.ServiceID)
		}
	}
	if ct != nil && hc.Status == "" {
		hc = cloneCheck(hc)
		hc.Status = ct.Status
	}
	p, err := s.prepareCheck(hc, ct, svc, source)
	if err != nil {
		return err
	}
	p.token = token
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		return ErrShutdown
	}
	if svc != nil {
		if ss := s.services[svc.ID]; ss == nil || ss.deleted {
			s.mu.Unlock()
			return badInput(ErrInvalidCheck, "check %q: service %q was removed", p.hc.CheckID, svc.ID)
		}
	}
	toStart, toStop := s.installCheckLocked(p, source)
	var perr error
	if persist {
		perr = s.persistCheckLocked(p.hc.CheckID)
	}
	started := s.started
	s.changedLocked()
	s.mu.Unlock()
	stopRunners(toStop)
	if started {
		startRunners(toStart)
	}
	return perr
}

// RemoveCheck removes a check and stops its runner; with persist its file
// is deleted.
func (s *State) RemoveCheck(id string, persist bool) error {
	s.mu.Lock()
	c := s.checks[id]
	if c == nil || c.deleted {
		s.mu.Unlock()
		return unknown(ErrUnknownCheck, id)
	}
	toStop := s.deleteCheckLocked(c)
	if persist {
		s.removeCheckFiles(id)
	}
	s.changedLocked()
	s.mu.Unlock()
	stopRunners(toStop)
	return nil
}

// UpdateTTLCheck sets a TTL check's status and output (bounded to 4 KiB)
// and restarts its TTL.
func (s *State) UpdateTTLCheck(id, status, output string) error {
	switch status {
	case structs.HealthPassing, structs.HealthWarning, structs.HealthCritical:
	default:
		return badInput(ErrInvalidCheck, "invalid check status %q", status)
	}
	s.mu.Lock()
	c := s.checks[id]
	if c == nil || c.deleted {
		s.mu.Unlock()
		return unknown(ErrUnknownCheck, id)
	}
	ttl := c.ttl
	s.mu.Unlock()
	if ttl == nil {
		return badInput(ErrNotTTL, "check %q is not a TTL check", id)
	}
	ttl.SetStatus(status, output)
	// Persist only if the check is still the one we updated: a removal
	// racing with this update must not leave a state file behind.
	s.mu.Lock()
	same := s.checks[id] == c && !c.deleted
	if same {
		s.persistTTLState(id, status, output, ttl.TTL())
	}
	s.mu.Unlock()
	return nil
}

// deleteCheckLocked marks a check for deregistration and returns its
// runner to stop.
func (s *State) deleteCheckLocked(c *checkState) []checks.Runner {
	c.deleted = true
	s.checkDirtyLocked(c)
	r := c.runner
	c.runner, c.ttl = nil, nil
	c.runnerGen = 0
	if r == nil {
		return nil
	}
	return []checks.Runner{r}
}

// Checks returns copies of the local checks by ID.
func (s *State) Checks() map[string]*structs.HealthCheck {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*structs.HealthCheck, len(s.checks))
	for id, c := range s.checks {
		if !c.deleted {
			out[id] = cloneCheck(c.check)
		}
	}
	return out
}

// Check returns a copy of one local check, or nil.
func (s *State) Check(id string) *structs.HealthCheck {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.checks[id]
	if c == nil || c.deleted {
		return nil
	}
	return cloneCheck(c.check)
}

// ServiceChecks returns copies of a service's checks, sorted by ID.
func (s *State) ServiceChecks(serviceID string) structs.HealthChecks {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out structs.HealthChecks
	for _, c := range s.checks {
		if !c.deleted && c.check.ServiceID == serviceID {
			out = append(out, cloneCheck(c.check))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CheckID < out[j].CheckID })
	return out
}

// CheckDefinition returns a copy of how a check runs, or nil for an
// unknown check or one nothing runs.
func (s *State) CheckDefinition(id string) *structs.CheckType {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.checks[id]
	if c == nil || c.deleted || c.ct == nil {
		return nil
	}
	ct := *c.ct
	ct.Header = maps.Clone(c.ct.Header)
	ct.Args = slices.Clone(c.ct.Args)
	return &ct
}

// stopRunners stops runners a change removed or replaced. Call it
// without mu held: runners report into the State, which takes mu.
func stopRunners(rs []checks.Runner) {
	for _, r := range rs {
		r.Stop()
	}
}

// startRunners starts runners a change installed, once the State has
// started. Call it without mu held.
func startRunners(rs []checks.Runner) {
	for _, r := range rs {
		r.Start()
	}
}
