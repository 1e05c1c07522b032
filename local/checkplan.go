package local

import (
	"fmt"
	"slices"
	"time"

	"consulate/checks"
	"consulate/structs"
)

// checkIDs returns the IDs of a service's checks as Consul names them:
// "service:<id>", or "service:<id>:<n>" when there are several, unless a
// check gives its own.
func checkIDs(serviceID string, cts []*structs.CheckType) []string {
	ids := make([]string, len(cts))
	for i, ct := range cts {
		switch {
		case ct.CheckID != "":
			ids[i] = ct.CheckID
		case len(cts) > 1:
			ids[i] = fmt.Sprintf("service:%s:%d", serviceID, i+1)
		default:
			ids[i] = "service:" + serviceID
		}
	}
	return ids
}

// checkPlan is a validated check with its (not yet started) runner.
type checkPlan struct {
	hc        *structs.HealthCheck
	ct        *structs.CheckType
	runner    checks.Runner
	ttl       *checks.TTLRunner
	runnerGen uint64
	// fromService is set when AddService installs it.
	fromService bool
	// token is the registration's ACL token.
	token string
}

// prepareCheck validates hc (and ct, when something runs it), fills the
// fields the catalog shows and builds the runner. svc is the service the
// check belongs to, or nil.
func (s *State) prepareCheck(hc *structs.HealthCheck, ct *structs.CheckType, svc *structs.NodeService, source string) (*checkPlan, error) {
	h := cloneCheck(hc)
	if h.CheckID == "" {
		h.CheckID = h.Name
	}
	if h.CheckID == "" {
		return nil, badInput(ErrInvalidCheck, "check name or ID required")
	}
	if h.Name == "" {
		h.Name = h.CheckID
	}
	if h.Status == "" {
		h.Status = structs.HealthCritical
	}
	switch h.Status {
	case structs.HealthPassing, structs.HealthWarning, structs.HealthCritical:
	default:
		return nil, badInput(ErrInvalidCheck, "check %q: invalid status %q", h.CheckID, h.Status)
	}
	h.Node = s.cfg.NodeName
	h.Output = checks.TruncateOutput(h.Output)
	if svc != nil {
		h.ServiceID, h.ServiceName, h.ServiceTags = svc.ID, svc.Service, slices.Clone(svc.Tags)
	}
	p := &checkPlan{hc: h}
	if ct == nil {
		return p, nil
	}
	nct := *ct
	nct.CheckID, nct.ServiceID = h.CheckID, h.ServiceID
	// The token lives in checkState, never in the stored definition.
	nct.Token = ""
	if nct.Name == "" {
		nct.Name = h.Name
	}
	kind := nct.Kind()
	if kind == "" {
		return nil, badInput(ErrInvalidCheck, "check %q: one of HTTP, TCP, TTL, Args or Script is required", h.CheckID)
	}
	if kind != "ttl" && kind != "alias" && nct.Interval <= 0 {
		return nil, badInput(ErrInvalidCheck, "check %q: interval required for a %s check", h.CheckID, kind)
	}
	h.Type = kind
	h.Definition = structs.HealthCheckDefinition{
		HTTP: nct.HTTP, Header: nct.Header, Method: nct.Method, Body: nct.Body,
		TLSSkipVerify: nct.TLSSkipVerify, TCP: nct.TCP, UDP: nct.UDP,
		GRPC: nct.GRPC, GRPCUseTLS: nct.GRPCUseTLS, OSService: nct.OSService,
		Interval: durString(nct.Interval), Timeout: durString(nct.Timeout),
		DeregisterCriticalServiceAfter: durString(nct.DeregisterCriticalServiceAfter),
	}
	s.mu.Lock()
	gen := s.nextGen()
	s.mu.Unlock()
	n := &runnerNotifier{s: s, checkID: h.CheckID, gen: gen}
	r, err := checks.NewRunner(h.CheckID, &nct, n, s.cfg.Logger, checks.Options{
		// enable_local_script_checks allows scripts only from config
		// files, never from the HTTP API.
		EnableScriptChecks: s.cfg.EnableScriptChecks || (s.cfg.EnableLocalScriptChecks && source == SourceConfig),
		MinInterval:        s.cfg.MinCheckInterval,
		OutputMaxSize:      s.cfg.CheckOutputMaxSize,
		Alias:              checkAlias{s: s, checkID: h.CheckID},
		NodeName:           s.cfg.NodeName,
	})
	if err != nil {
		return nil, badInput(ErrInvalidCheck, "%v", err)
	}
	p.ct, p.runner, p.runnerGen = &nct, r, gen
	p.ttl, _ = r.(*checks.TTLRunner)
	return p, nil
}

func durString(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return d.String()
}

// installCheckLocked puts a prepared check in place. A running check with
// the same definition keeps its runner and status; otherwise the old
// runner is returned to stop and the new one to start. Either way it is
// out of sync until the next sync sends it.
func (s *State) installCheckLocked(p *checkPlan, source string) (toStart, toStop []checks.Runner) {
	id := p.hc.CheckID
	old := s.checks[id]
	if old != nil && !old.deleted && old.ct != nil && p.ct != nil && checkTypeEqual(old.ct, p.ct) {
		c := old.check
		c.Name, c.Notes, c.ServiceID, c.ServiceName = p.hc.Name, p.hc.Notes, p.hc.ServiceID, p.hc.ServiceName
		c.ServiceTags = slices.Clone(p.hc.ServiceTags)
		old.source, old.fromService, old.token = source, p.fromService, p.token
		// Re-registered: it syncs again even unchanged (as a service
		// does), with the token it now carries.
		s.checkDirtyLocked(old)
		return nil, nil
	}
	if old != nil {
		if old.runner != nil {
			toStop = append(toStop, old.runner)
		}
		if old.deferTimer != nil {
			old.deferTimer.Stop()
		}
	}
	c := &checkState{
		check: p.hc, ct: p.ct, source: source, token: p.token, fromService: p.fromService,
		runner: p.runner, ttl: p.ttl, runnerGen: p.runnerGen,
	}
	if c.check.Status == structs.HealthCritical {
		c.criticalSince = s.cfg.Now()
	}
	s.checkDirtyLocked(c)
	s.checks[id] = c
	if p.runner != nil {
		toStart = append(toStart, p.runner)
	}
	return toStart, toStop
}
