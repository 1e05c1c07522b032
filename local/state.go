package local

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"consulate/checks"
	"consulate/structs"
)

// serviceState is a local service and whether the catalog has it as is.
type serviceState struct {
	svc    *structs.NodeService
	source string
	// inSync is true when the catalog holds exactly svc.
	inSync bool
	// deleted marks a service removed locally (or found only in the
	// catalog) that still has to be deregistered.
	deleted bool
	// gen changes on every local change, so a sync that raced with one
	// does not mark the newer version in sync.
	gen uint64
}

// checkState is a local check, its definition and its runner.
type checkState struct {
	check  *structs.HealthCheck
	ct     *structs.CheckType // nil for checks nothing runs (maintenance)
	source string
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

// State is the agent's local services and checks. All methods are safe
// for concurrent use.
type State struct {
	cfg    Config
	rpc    RPCFunc
	logger *slog.Logger

	// mu guards everything below. Runner methods are never called with
	// mu held: runners report into the State, which takes mu.
	mu         sync.Mutex
	services   map[string]*serviceState
	checks     map[string]*checkState
	nodeInSync bool
	genSeq     uint64
	started    bool
	shutdown   bool
	subs       map[chan struct{}]struct{}

	// syncSem (capacity 1) serialises syncs with each other; a channel
	// rather than a mutex so a caller can stop waiting for a sync stuck
	// on an unreachable server.
	syncSem chan struct{}

	triggerCh chan struct{}
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	done      chan struct{}
}

// New builds a State and restores persisted services and checks from
// cfg.DataDir. Nothing runs until Start.
func New(cfg Config, rpc RPCFunc) (*State, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rpc == nil {
		return nil, fmt.Errorf("local: an RPC function is required")
	}
	cfg.withDefaults()
	cfg.TaggedAddresses = maps.Clone(cfg.TaggedAddresses)
	cfg.NodeMeta = maps.Clone(cfg.NodeMeta)
	s := &State{
		cfg:       cfg,
		rpc:       rpc,
		logger:    cfg.Logger.With("component", "local"),
		services:  make(map[string]*serviceState),
		checks:    make(map[string]*checkState),
		subs:      make(map[chan struct{}]struct{}),
		triggerCh: make(chan struct{}, 1),
		syncSem:   make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	if err := s.Load(); err != nil {
		return nil, err
	}
	return s, nil
}

// Start starts the check runners, the anti-entropy loop (whose first full
// sync runs at once) and the reaper. ctx gives values only; Shutdown
// stops everything.
func (s *State) Start(ctx context.Context) {
	s.mu.Lock()
	if s.started || s.shutdown {
		s.mu.Unlock()
		return
	}
	s.started = true
	var runners []checks.Runner
	for _, c := range s.checks {
		if !c.deleted && c.runner != nil {
			runners = append(runners, c.runner)
		}
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.mu.Unlock()

	for _, r := range runners {
		r.Start()
	}
	s.wg.Add(2)
	go s.syncLoop(lctx)
	go s.reapLoop(lctx)
}

// Shutdown stops the runners and loops and waits for them, or for ctx.
// It is idempotent.
func (s *State) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.shutdown {
		s.shutdown = true
		var runners []checks.Runner
		for _, c := range s.checks {
			if c.runner != nil {
				runners = append(runners, c.runner)
			}
			if c.deferTimer != nil {
				c.deferTimer.Stop()
				c.deferTimer = nil
			}
		}
		if s.cancel != nil {
			s.cancel()
		}
		s.mu.Unlock()
		go func() {
			for _, r := range runners {
				r.Stop()
			}
			s.wg.Wait()
			close(s.done)
		}()
	} else {
		s.mu.Unlock()
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Subscribe returns a channel that receives (coalesced) whenever a local
// service or check changes, and a function that ends the subscription.
func (s *State) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
	}
}

// changedLocked tells subscribers and the sync loop that something moved.
func (s *State) changedLocked() {
	for ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	s.triggerSync()
}

func (s *State) triggerSync() {
	select {
	case s.triggerCh <- struct{}{}:
	default:
	}
}

func (s *State) nextGen() uint64 {
	s.genSeq++
	return s.genSeq
}

func (s *State) serviceDirtyLocked(ss *serviceState) {
	ss.inSync = false
	ss.gen = s.nextGen()
}

func (s *State) checkDirtyLocked(c *checkState) {
	c.inSync = false
	c.gen = s.nextGen()
	if c.deferTimer != nil {
		c.deferTimer.Stop()
		c.deferTimer = nil
	}
}

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

// AddService registers a service and one check per CheckType, starting
// their runners. An existing service with the same ID is replaced; its
// checks whose definition did not change keep running with their status,
// and checks no longer listed are removed. With persist, the service and
// its checks are written to the data dir.
func (s *State) AddService(svc *structs.NodeService, chkTypes []*structs.CheckType, persist bool, source string) error {
	return s.addService(svc, chkTypes, persist, source, true)
}

// AddServiceKeepChecks is AddService for a re-registration through the
// HTTP API without ?replace-existing-checks: checks the new definition
// does not list stay, as in Consul.
func (s *State) AddServiceKeepChecks(svc *structs.NodeService, chkTypes []*structs.CheckType, persist bool, source string) error {
	return s.addService(svc, chkTypes, persist, source, false)
}

func (s *State) addService(svc *structs.NodeService, chkTypes []*structs.CheckType, persist bool, source string, replaceChecks bool) error {
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
	if ss.deleted || ss.svc == nil || !serviceEqual(ss.svc, ns) {
		ss.svc = ns
		s.serviceDirtyLocked(ss)
	}
	ss.deleted, ss.source = false, source
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

	for _, r := range toStop {
		r.Stop()
	}
	if started {
		for _, r := range toStart {
			r.Start()
		}
	}
	return perr
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
	if nct.Name == "" {
		nct.Name = h.Name
	}
	kind := nct.Kind()
	if kind == "" {
		return nil, badInput(ErrInvalidCheck, "check %q: one of HTTP, TCP, TTL, Args or Script is required", h.CheckID)
	}
	if kind != "ttl" && nct.Interval <= 0 {
		return nil, badInput(ErrInvalidCheck, "check %q: interval required for a %s check", h.CheckID, kind)
	}
	h.Type = kind
	h.Definition = structs.HealthCheckDefinition{
		HTTP: nct.HTTP, Header: nct.Header, Method: nct.Method, Body: nct.Body,
		TLSSkipVerify: nct.TLSSkipVerify, TCP: nct.TCP,
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
// runner is returned to stop and the new one to start.
func (s *State) installCheckLocked(p *checkPlan, source string) (toStart, toStop []checks.Runner) {
	id := p.hc.CheckID
	old := s.checks[id]
	if old != nil && !old.deleted && old.ct != nil && p.ct != nil && checkTypeEqual(old.ct, p.ct) {
		c := old.check
		changed := c.Name != p.hc.Name || c.Notes != p.hc.Notes || c.ServiceID != p.hc.ServiceID ||
			c.ServiceName != p.hc.ServiceName || !slices.Equal(c.ServiceTags, p.hc.ServiceTags)
		c.Name, c.Notes, c.ServiceID, c.ServiceName = p.hc.Name, p.hc.Notes, p.hc.ServiceID, p.hc.ServiceName
		c.ServiceTags = slices.Clone(p.hc.ServiceTags)
		old.source, old.fromService = source, p.fromService
		if changed {
			s.checkDirtyLocked(old)
		}
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
		check: p.hc, ct: p.ct, source: source, fromService: p.fromService,
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
	for _, r := range toStop {
		r.Stop()
	}
	return nil
}

// AddCheck registers a check. ct says how it runs; nil means nothing
// runs it (its status changes only by re-registration). A ServiceID must
// name a local service.
func (s *State) AddCheck(hc *structs.HealthCheck, ct *structs.CheckType, persist bool) error {
	return s.addCheck(hc, ct, persist, SourceAPI)
}

func (s *State) addCheck(hc *structs.HealthCheck, ct *structs.CheckType, persist bool, source string) error {
	if hc == nil {
		return badInput(ErrInvalidCheck, "check definition missing")
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
	for _, r := range toStop {
		r.Stop()
	}
	if started {
		for _, r := range toStart {
			r.Start()
		}
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
	for _, r := range toStop {
		r.Stop()
	}
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

func (s *State) notifySubsLocked() {
	for ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
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
