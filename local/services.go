package local

import (
	"fmt"
	"slices"

	"consulate/checks"
	"consulate/structs"
)

// serviceState is a local service and whether the catalog has it as is.
type serviceState struct {
	svc    *structs.NodeService
	source string
	// token is the ACL token the registration carried ("" for none; see
	// itemToken for what it then syncs with). It stays after a
	// removal until the deregistration is synced, and never leaves the
	// agent but to the servers.
	token string
	// inSync is true when the catalog holds exactly svc (or, for a
	// deleted service, when its deregistration was refused by ACLs and
	// waits for the next full sync).
	inSync bool
	// deleted marks a service removed locally (or found only in the
	// catalog) that still has to be deregistered.
	deleted bool
	// blocked is set when the servers refused its registration for its
	// token, until a registration of it succeeds or a full sync finds
	// the catalog holding it: meanwhile its checks that sync on their
	// own wait for it (the catalog would refuse them, its service
	// missing, and that failure would stop the whole sync).
	blocked bool
	// gen changes on every local change, so a sync that raced with one
	// does not mark the newer version in sync.
	gen uint64
}

func (s *State) serviceDirtyLocked(ss *serviceState) {
	ss.inSync = false
	ss.gen = s.nextGen()
}

// AddService registers a service and one check per CheckType, starting
// their runners. An existing service with the same ID is replaced; its
// checks whose definition did not change keep running with their status,
// and checks no longer listed are removed. With persist, the service and
// its checks are written to the data dir.
func (s *State) AddService(svc *structs.NodeService, chkTypes []*structs.CheckType, persist bool, source string) error {
	return s.addService(svc, chkTypes, persist, source, "", true)
}

// AddServiceKeepChecks is AddService for a re-registration through the
// HTTP API without ?replace-existing-checks: checks the new definition
// does not list stay, as in Consul.
func (s *State) AddServiceKeepChecks(svc *structs.NodeService, chkTypes []*structs.CheckType, persist bool, source string) error {
	return s.addService(svc, chkTypes, persist, source, "", false)
}

// AddServiceWithToken is AddService (replaceChecks) or
// AddServiceKeepChecks (!replaceChecks) for a registration that carried
// an ACL token: the service and its checks sync with it (see
// Config.Tokens), and it is persisted with them.
func (s *State) AddServiceWithToken(svc *structs.NodeService, chkTypes []*structs.CheckType, persist bool, source, token string, replaceChecks bool) error {
	return s.addService(svc, chkTypes, persist, source, token, replaceChecks)
}

func (s *State) addService(svc *structs.NodeService, chkTypes []*structs.CheckType, persist bool, source, token string, replaceChecks bool) error {
	if svc == nil {
		return badInput(ErrInvalidService, "service definition missing")
	}
	if svc.Service == "" {
		return badInput(ErrInvalidService, "service name required")
	}
	ns := cloneService(svc)
	if ns.ID == "" {
		ns.ID = ns.Service
	}
	if ns.Weights == nil {
		ns.Weights = &structs.Weights{Passing: 1, Warning: 1}
	}
	if ns.Port < 0 || ns.Port > 65535 {
		return badInput(ErrInvalidService, "service %q: port %d out of range", ns.ID, ns.Port)
	}
	if source == "" {
		source = SourceAPI
	}
	ids := checkIDs(ns.ID, chkTypes)
	plans := make([]*checkPlan, 0, len(chkTypes))
	seen := make(map[string]bool)
	for i, ct := range chkTypes {
		if ct == nil {
			return badInput(ErrInvalidCheck, "service %q: check %d is empty", ns.ID, i+1)
		}
		if seen[ids[i]] {
			return badInput(ErrInvalidCheck, "service %q: duplicate check ID %q", ns.ID, ids[i])
		}
		seen[ids[i]] = true
		nct := *ct
		nct.CheckID = ids[i]
		nct.ServiceID = ns.ID
		if nct.Name == "" {
			nct.Name = fmt.Sprintf("Service '%s' check", ns.Service)
		}
		hc := &structs.HealthCheck{CheckID: nct.CheckID, Name: nct.Name, Notes: nct.Notes, Status: nct.Status}
		p, err := s.prepareCheck(hc, &nct, ns, source)
		if err != nil {
			return fmt.Errorf("service %q: %w", ns.ID, err)
		}
		p.token = token
		plans = append(plans, p)
	}

	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		return ErrShutdown
	}
	ss := s.services[ns.ID]
	if ss == nil {
		ss = &serviceState{}
		s.services[ns.ID] = ss
	}
	// Every registration syncs again, even an unchanged one (as Consul):
	// its token may be new, or may have been granted the rights that a
	// refused sync lacked.
	ss.svc = ns
	s.serviceDirtyLocked(ss)
	ss.deleted, ss.source, ss.token = false, source, token
	var toStart, toStop []checks.Runner
	for _, p := range plans {
		p.fromService = true
		st, sp := s.installCheckLocked(p, source)
		toStart = append(toStart, st...)
		toStop = append(toStop, sp...)
	}
	// Checks defined with this service and no longer listed go; checks
	// added on their own (maintenance, API) stay.
	for id, c := range s.checks {
		if !replaceChecks || c.deleted || c.check.ServiceID != ns.ID || seen[id] || !c.fromService {
			continue
		}
		toStop = append(toStop, s.deleteCheckLocked(c)...)
		if persist {
			s.removeCheckFiles(id)
		}
	}
	// Tags or name may have moved; the service's checks carry them.
	for _, c := range s.checks {
		if !c.deleted && c.check.ServiceID == ns.ID &&
			(c.check.ServiceName != ns.Service || !slices.Equal(c.check.ServiceTags, ns.Tags)) {
			c.check.ServiceName, c.check.ServiceTags = ns.Service, slices.Clone(ns.Tags)
			s.checkDirtyLocked(c)
		}
	}
	var perr error
	if persist {
		perr = s.persistServiceLocked(ns.ID)
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

// RemoveService removes a service and its checks, stopping their runners.
// With persist, their files are deleted from the data dir.
func (s *State) RemoveService(id string, persist bool) error {
	s.mu.Lock()
	ss := s.services[id]
	if ss == nil || ss.deleted {
		s.mu.Unlock()
		return unknown(ErrUnknownService, id)
	}
	ss.deleted = true
	s.serviceDirtyLocked(ss)
	var toStop []checks.Runner
	for cid, c := range s.checks {
		if c.deleted || c.check.ServiceID != id {
			continue
		}
		toStop = append(toStop, s.deleteCheckLocked(c)...)
		if persist {
			s.removeCheckFiles(cid)
		}
	}
	if persist {
		s.removeFile(servicesDir, id)
	}
	s.changedLocked()
	s.mu.Unlock()
	stopRunners(toStop)
	return nil
}

// Services returns copies of the local services by ID.
func (s *State) Services() map[string]*structs.NodeService {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*structs.NodeService, len(s.services))
	for id, ss := range s.services {
		if !ss.deleted {
			out[id] = cloneService(ss.svc)
		}
	}
	return out
}

// Service returns a copy of one local service, or nil.
func (s *State) Service(id string) *structs.NodeService {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.services[id]
	if ss == nil || ss.deleted {
		return nil
	}
	return cloneService(ss.svc)
}

// ServiceSource returns who added a service ("api", "config"), or "".
func (s *State) ServiceSource(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.services[id]
	if ss == nil || ss.deleted {
		return ""
	}
	return ss.source
}
