package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"consulate/acl"
	"consulate/httpapi/filter"
	"consulate/structs"
)

// agentService is api.AgentService.
type agentService struct {
	Kind              string `json:",omitempty"`
	ID                string
	Service           string
	Tags              []string
	Meta              map[string]string
	Port              int
	Address           string
	TaggedAddresses   map[string]structs.ServiceAddress `json:",omitempty"`
	Weights           structs.Weights
	EnableTagOverride bool
	CreateIndex       uint64 `json:",omitempty"`
	ModifyIndex       uint64 `json:",omitempty"`
	ContentHash       string `json:",omitempty"`
	Datacenter        string `json:",omitempty"`
}

func toAgentService(ns *structs.NodeService, dc string) *agentService {
	as := &agentService{
		Kind: ns.Kind, ID: ns.ID, Service: ns.Service, Tags: ns.Tags, Meta: ns.Meta, Port: ns.Port,
		Address: ns.Address, TaggedAddresses: ns.TaggedAddresses, Weights: structs.Weights{Passing: 1, Warning: 1},
		EnableTagOverride: ns.EnableTagOverride, CreateIndex: ns.CreateIndex, ModifyIndex: ns.ModifyIndex,
		Datacenter: dc,
	}
	if ns.Datacenter != "" {
		as.Datacenter = ns.Datacenter
	}
	if ns.Weights != nil {
		as.Weights = *ns.Weights
	}
	if as.Tags == nil {
		as.Tags = []string{}
	}
	if as.Meta == nil {
		as.Meta = map[string]string{}
	}
	return as
}

func contentHash(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// localPoll is how often agent-local blocking reads re-check when the
// agent offers no change channel.
const localPoll = 50 * time.Millisecond

// blockLocal runs compute, and while the caller's ?hash= (or ?index=, by
// the key function) equals the current version, waits for a local change
// or the wait time; it returns the last result. The loop ends at the
// deadline or when the request is cancelled.
func (s *Server) blockLocal(r *http.Request, want string, wait time.Duration, compute func() (any, string, error)) (any, string, error) {
	obj, ver, err := compute()
	if err != nil || want == "" || want != ver {
		return obj, ver, err
	}
	if wait <= 0 {
		wait = s.cfg.DefaultQueryTime
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		changed := s.agent.LocalChanged()
		var poll *time.Timer
		var tick <-chan time.Time
		if changed == nil {
			poll = time.NewTimer(localPoll)
			tick = poll.C
		}
		select {
		case <-changed:
		case <-tick:
		case <-deadline.C:
			if poll != nil {
				poll.Stop()
			}
			return compute()
		case <-r.Context().Done():
			if poll != nil {
				poll.Stop()
			}
			return nil, "", r.Context().Err()
		}
		if poll != nil {
			poll.Stop()
		}
		obj, ver, err = compute()
		if err != nil || ver != want {
			return obj, ver, err
		}
	}
}

func (s *Server) localWait(r *http.Request) (time.Duration, error) {
	if v := query(r).Get("wait"); v != "" {
		return s.parseWait(v)
	}
	return s.cfg.DefaultQueryTime, nil
}

func (s *Server) agentSelf(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := s.authorizeFor(r, acl.ResourceAgent, s.nodeName(), acl.AccessRead); err != nil {
		return nil, err
	}
	self := s.agent.Self()
	cfg := map[string]any{
		"Datacenter": self.Datacenter, "PrimaryDatacenter": self.Datacenter, "NodeName": self.NodeName,
		"NodeID": self.NodeID, "Server": self.Server, "Revision": self.Revision, "Version": self.Version,
		"BuildDate": self.BuildDate, "BindAddr": self.BindAddr, "AdvertiseAddr": self.AdvertiseAddr,
	}
	stats := self.Stats
	if stats == nil {
		stats = map[string]map[string]string{}
	}
	debug := self.DebugConfig
	if debug == nil {
		debug = map[string]any{}
	}
	meta := self.Meta
	if meta == nil {
		meta = map[string]string{}
	}
	return map[string]any{
		"Config": cfg, "DebugConfig": debug, "Member": self.Member, "Stats": stats, "Meta": meta,
		"Coord": nil, "xDS": nil,
	}, nil
}

func (s *Server) agentMembers(w http.ResponseWriter, r *http.Request) (any, error) {
	var q structs.QueryOptions
	f, err := s.parseRead(r, nil, &q)
	if err != nil {
		return nil, err
	}
	if err := validateFilter(f, &structs.Member{}); err != nil {
		return nil, err
	}
	z, err := s.authorize(r)
	if err != nil {
		return nil, err
	}
	all := s.agent.Members(queryFlag(r, "wan"))
	m := make([]structs.Member, 0, len(all))
	for _, mem := range all {
		// WAN members are named node.dc; the rule names the node.
		name := mem.Name
		if queryFlag(r, "wan") {
			if i := strings.LastIndexByte(name, '.'); i > 0 {
				name = name[:i]
			}
		}
		if z.Allow(acl.ResourceNode, name, acl.AccessRead) {
			m = append(m, mem)
		}
	}
	setFiltered(w, len(m) < len(all))
	if m = filter.Slice(f, m); m == nil {
		m = []structs.Member{}
	}
	return m, nil
}

func (s *Server) agentServices(w http.ResponseWriter, r *http.Request) (any, error) {
	var q structs.QueryOptions
	f, err := s.parseRead(r, nil, &q)
	if err != nil {
		return nil, err
	}
	if err := validateFilter(f, &agentService{}); err != nil {
		return nil, err
	}
	z, err := s.authorize(r)
	if err != nil {
		return nil, err
	}
	dc := s.agent.Self().Datacenter
	out := make(map[string]*agentService)
	filtered := false
	for id, ns := range s.agent.Services() {
		if !z.Allow(acl.ResourceService, ns.Service, acl.AccessRead) {
			filtered = true
			continue
		}
		out[id] = toAgentService(ns, dc)
	}
	setFiltered(w, filtered)
	return filter.Map(f, out), nil
}

func (s *Server) agentService(w http.ResponseWriter, r *http.Request) (any, error) {
	id := tail(r, "/v1/agent/service/")
	if id == "" {
		return nil, badRequest("Missing service ID")
	}
	wait, err := s.localWait(r)
	if err != nil {
		return nil, err
	}
	z, err := s.authorize(r)
	if err != nil {
		return nil, err
	}
	dc := s.agent.Self().Datacenter
	obj, hash, err := s.blockLocal(r, query(r).Get("hash"), wait, func() (any, string, error) {
		ns, ok := s.agent.Services()[id]
		if !ok {
			return nil, "", notFound("unknown service ID: %s", id)
		}
		if err := z.check(acl.ResourceService, ns.Service, acl.AccessRead); err != nil {
			return nil, "", err
		}
		as := toAgentService(ns, dc)
		as.ContentHash = contentHash(as)
		return as, as.ContentHash, nil
	})
	if err != nil {
		return nil, err
	}
	w.Header().Set("X-Consul-ContentHash", hash)
	return obj, nil
}

func (s *Server) agentChecks(w http.ResponseWriter, r *http.Request) (any, error) {
	var q structs.QueryOptions
	f, err := s.parseRead(r, nil, &q)
	if err != nil {
		return nil, err
	}
	if err := validateFilter(f, &structs.HealthCheck{}); err != nil {
		return nil, err
	}
	z, err := s.authorize(r)
	if err != nil {
		return nil, err
	}
	checks := map[string]*structs.HealthCheck{}
	filtered := false
	for id, hc := range s.agent.Checks() {
		if s.checkAccess(z, hc, "", acl.AccessRead) != nil {
			filtered = true
			continue
		}
		checks[id] = hc
	}
	setFiltered(w, filtered)
	return filter.Map(f, checks), nil
}

func (s *Server) agentServiceRegister(w http.ResponseWriter, r *http.Request) (any, error) {
	var body serviceBody
	if err := s.readStrict(r, &body, false); err != nil {
		return nil, err
	}
	def, err := body.definition()
	if err != nil {
		return nil, err
	}
	if err := s.vetServiceRegister(r, def); err != nil {
		return nil, err
	}
	if err := s.agent.AddService(def, queryFlag(r, "replace-existing-checks"), token(r)); err != nil {
		return nil, err
	}
	s.syncLocal(r)
	return nil, nil
}

func (s *Server) agentServiceDeregister(w http.ResponseWriter, r *http.Request) (any, error) {
	id := tail(r, "/v1/agent/service/deregister/")
	if id == "" {
		return nil, badRequest("Missing service ID")
	}
	ns, ok := s.agent.Services()[id]
	if !ok {
		return nil, notFound("Unknown service ID %q. Ensure that the service ID is passed, not the service name.", id)
	}
	if err := s.authorizeFor(r, acl.ResourceService, ns.Service, acl.AccessWrite); err != nil {
		return nil, err
	}
	if err := s.agent.RemoveService(id); err != nil {
		return nil, err
	}
	s.syncLocal(r)
	return nil, nil
}

func (s *Server) agentCheckRegister(w http.ResponseWriter, r *http.Request) (any, error) {
	var body checkBody
	if err := s.readStrict(r, &body, false); err != nil {
		return nil, err
	}
	if body.Name == "" {
		return nil, badRequest("Missing check name")
	}
	ct, err := body.checkType()
	if err != nil {
		return nil, err
	}
	if ct.CheckID == "" {
		ct.CheckID = ct.Name
	}
	z, err := s.authorize(r)
	if err != nil {
		return nil, err
	}
	if ct.ServiceID != "" {
		ns, ok := s.agent.Services()[ct.ServiceID]
		if !ok {
			return nil, badRequest("ServiceID %q does not exist", ct.ServiceID)
		}
		if err := z.check(acl.ResourceService, ns.Service, acl.AccessWrite); err != nil {
			return nil, err
		}
	} else if err := z.check(acl.ResourceNode, s.nodeName(), acl.AccessWrite); err != nil {
		return nil, err
	}
	// Replacing a check also needs the rights on the one replaced.
	if old, ok := s.agent.Checks()[ct.CheckID]; ok {
		if err := s.checkAccess(z, old, "", acl.AccessWrite); err != nil {
			return nil, err
		}
	}
	if err := s.agent.AddCheck(ct, token(r)); err != nil {
		return nil, err
	}
	s.syncLocal(r)
	return nil, nil
}

func (s *Server) agentCheckDeregister(w http.ResponseWriter, r *http.Request) (any, error) {
	id := tail(r, "/v1/agent/check/deregister/")
	if id == "" {
		return nil, badRequest("Missing check ID")
	}
	hc, ok := s.agent.Checks()[id]
	if !ok {
		return nil, notFound("Unknown check ID %q", id)
	}
	z, err := s.authorize(r)
	if err != nil {
		return nil, err
	}
	if err := s.checkAccess(z, hc, "", acl.AccessWrite); err != nil {
		return nil, err
	}
	if err := s.agent.RemoveCheck(id); err != nil {
		return nil, err
	}
	s.syncLocal(r)
	return nil, nil
}

// checkStatusHandler answers /v1/agent/check/{pass,warn,fail}/:id.
func (s *Server) checkStatusHandler(prefix, status string) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		id := tail(r, prefix)
		if id == "" {
			return nil, badRequest("Missing check ID")
		}
		return nil, s.updateCheck(r, id, status, query(r).Get("note"))
	}
}

// updateCheck sets a TTL check's status. A status change reaches the
// servers before it returns; an output-only change may wait for the
// agent's check_update_interval, as in Consul (the sync then finds
// nothing to send).
func (s *Server) updateCheck(r *http.Request, id, status, output string) error {
	hc, ok := s.agent.Checks()[id]
	if !ok {
		return notFound("Unknown check ID %q", id)
	}
	z, err := s.authorize(r)
	if err != nil {
		return err
	}
	if err := s.checkAccess(z, hc, "", acl.AccessWrite); err != nil {
		return err
	}
	if err := s.agent.UpdateTTLCheck(id, status, output); err != nil {
		return err
	}
	s.syncLocal(r)
	return nil
}

// syncLocal waits until a change to the agent's services or checks has
// reached the servers, as Consul's agent endpoints do, so a client that
// reads the catalog next sees its own write. When no server answers in
// time the call still succeeds: the agent keeps the change and
// anti-entropy sends it later.
func (s *Server) syncLocal(r *http.Request) {
	if err := s.agent.SyncChanges(r.Context()); err != nil {
		s.logger.Warn("change kept locally, not yet synced to the servers; anti-entropy will retry",
			"path", r.URL.Path, "error", err)
	}
}

func (s *Server) agentCheckUpdate(w http.ResponseWriter, r *http.Request) (any, error) {
	id := tail(r, "/v1/agent/check/update/")
	if id == "" {
		return nil, badRequest("Missing check ID")
	}
	var body struct{ Status, Output string }
	if err := s.readStrict(r, &body, false); err != nil {
		return nil, err
	}
	switch body.Status {
	case structs.HealthPassing, structs.HealthWarning, structs.HealthCritical:
	default:
		return nil, badRequest("Invalid check status: '%s'", body.Status)
	}
	return nil, s.updateCheck(r, id, body.Status, body.Output)
}

func (s *Server) agentReload(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := s.authorizeFor(r, acl.ResourceAgent, s.nodeName(), acl.AccessWrite); err != nil {
		return nil, err
	}
	return nil, s.agent.Reload(r.Context())
}

func (s *Server) agentLeave(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := s.authorizeFor(r, acl.ResourceAgent, s.nodeName(), acl.AccessWrite); err != nil {
		return nil, err
	}
	return nil, s.agent.Leave(r.Context())
}

func (s *Server) agentJoin(w http.ResponseWriter, r *http.Request) (any, error) {
	addr := tail(r, "/v1/agent/join/")
	if addr == "" {
		return nil, badRequest("Missing address to join")
	}
	if err := s.authorizeFor(r, acl.ResourceAgent, s.nodeName(), acl.AccessWrite); err != nil {
		return nil, err
	}
	_, err := s.agent.Join(r.Context(), []string{addr}, queryFlag(r, "wan"))
	return nil, err
}

func (s *Server) agentForceLeave(w http.ResponseWriter, r *http.Request) (any, error) {
	node := tail(r, "/v1/agent/force-leave/")
	if node == "" {
		return nil, badRequest("Missing node name")
	}
	// Consul 1.16: force-leave is an operator action.
	if err := s.authorizeFor(r, acl.ResourceOperator, "", acl.AccessWrite); err != nil {
		return nil, err
	}
	return nil, s.agent.ForceLeave(r.Context(), node, queryFlag(r, "prune"), queryFlag(r, "wan"))
}

func parseEnable(r *http.Request) (bool, error) {
	v, ok := query(r)["enable"]
	if !ok || v[0] == "" {
		return false, badRequest("Missing value for enable")
	}
	b, err := strconv.ParseBool(v[0])
	if err != nil {
		return false, badRequest("Invalid value for enable: %q", v[0])
	}
	return b, nil
}

func (s *Server) agentServiceMaintenance(w http.ResponseWriter, r *http.Request) (any, error) {
	id := tail(r, "/v1/agent/service/maintenance/")
	if id == "" {
		return nil, badRequest("Missing service ID")
	}
	enable, err := parseEnable(r)
	if err != nil {
		return nil, err
	}
	ns, ok := s.agent.Services()[id]
	if !ok {
		return nil, notFound("Unknown service ID %q", id)
	}
	if err := s.authorizeFor(r, acl.ResourceService, ns.Service, acl.AccessWrite); err != nil {
		return nil, err
	}
	if err := s.agent.ServiceMaintenance(id, enable, query(r).Get("reason"), token(r)); err != nil {
		return nil, err
	}
	s.syncLocal(r)
	return nil, nil
}

func (s *Server) agentNodeMaintenance(w http.ResponseWriter, r *http.Request) (any, error) {
	enable, err := parseEnable(r)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeFor(r, acl.ResourceNode, s.nodeName(), acl.AccessWrite); err != nil {
		return nil, err
	}
	if err := s.agent.NodeMaintenance(enable, query(r).Get("reason"), token(r)); err != nil {
		return nil, err
	}
	s.syncLocal(r)
	return nil, nil
}

// wantsPrometheus: ?format=prometheus, or an Accept header asking for
// OpenMetrics or the Prometheus text format 0.4.0, as Consul decides.
func wantsPrometheus(r *http.Request) bool {
	if query(r).Get("format") == "prometheus" {
		return true
	}
	for _, v := range strings.Split(r.Header.Get("Accept"), ",") {
		parts := strings.Split(v, ";")
		mime := strings.ToLower(strings.TrimSpace(parts[0]))
		if mime == "application/openmetrics-text" {
			return true
		}
		if mime == "text/plain" && len(parts) > 1 && strings.TrimSpace(parts[1]) == "version=0.4.0" {
			return true
		}
	}
	return false
}

func (s *Server) agentMetrics(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := s.authorizeFor(r, acl.ResourceAgent, s.nodeName(), acl.AccessRead); err != nil {
		return nil, err
	}
	if wantsPrometheus(r) {
		if s.cfg.Prometheus == nil {
			return nil, &codedError{http.StatusUnsupportedMediaType, "Prometheus is not enabled since its retention time is not positive"}
		}
		s.cfg.Prometheus.ServeHTTP(w, r)
		return nil, nil
	}
	if s.cfg.Metrics != nil {
		return s.cfg.Metrics(), nil
	}
	return map[string]any{
		"Timestamp": time.Now().UTC().Truncate(10 * time.Second).Format("2006-01-02 15:04:05 -0700 MST"),
		"Gauges":    []any{}, "Points": []any{}, "Counters": []any{}, "Samples": []any{},
	}, nil
}

// sortedKeys returns a map's keys in order; used for stable output.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
