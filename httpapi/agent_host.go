package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/hashicorp/serf/coordinate"

	"consulate/acl"
	"consulate/internal/hostinfo"
	"consulate/structs"
)

// agentHost answers /v1/agent/host: the machine the agent runs on, as
// Consul's debug.HostInfo (operator:read).
func (s *Server) agentHost(_ http.ResponseWriter, r *http.Request) (any, error) {
	z, err := s.authorize(r)
	if err != nil {
		return nil, err
	}
	if err := z.check(acl.ResourceOperator, "", acl.AccessRead); err != nil {
		return nil, err
	}
	return hostinfo.Collect(), nil
}

// agentVersion answers /v1/agent/version (no ACL, as Consul).
func (s *Server) agentVersion(_ http.ResponseWriter, _ *http.Request) (any, error) {
	self := s.agent.Self()
	return struct {
		SHA          string
		BuildDate    string
		HumanVersion string
		FIPS         string
	}{SHA: self.Revision, BuildDate: self.BuildDate, HumanVersion: self.Version}, nil
}

// agentServiceChecksInfo is api.AgentServiceChecksInfo.
type agentServiceChecksInfo struct {
	AggregatedStatus string
	Service          *agentService
	Checks           structs.HealthChecks
}

// aggregatedStatus is api.HealthChecks.AggregatedStatus: maintenance
// over critical over warning over passing.
func aggregatedStatus(checks structs.HealthChecks) string {
	var warning, critical, maint bool
	for _, c := range checks {
		if c.CheckID == structs.NodeMaintCheckID || strings.HasPrefix(c.CheckID, structs.ServiceMaintPrefix) {
			maint = true
			continue
		}
		switch c.Status {
		case structs.HealthPassing:
		case structs.HealthWarning:
			warning = true
		case structs.HealthCritical:
			critical = true
		default:
			return ""
		}
	}
	switch {
	case maint:
		return structs.HealthMaint
	case critical:
		return structs.HealthCritical
	case warning:
		return structs.HealthWarning
	}
	return structs.HealthPassing
}

// localServiceHealth is Consul's agentHealthService: the local checks of
// the service and of the node, their aggregate and its status code
// (passing 200, warning 429, anything else 503).
func (s *Server) localServiceHealth(id string, all map[string]*structs.HealthCheck) (int, string, structs.HealthChecks) {
	checks := structs.HealthChecks{}
	for _, c := range all {
		if c.ServiceID != id && c.ServiceID != "" {
			continue
		}
		// Only the fields Consul's conversion keeps.
		checks = append(checks, &structs.HealthCheck{Node: c.Node, CheckID: c.CheckID, Name: c.Name, Status: c.Status,
			Notes: c.Notes, Output: c.Output, ServiceID: c.ServiceID, ServiceName: c.ServiceName, ServiceTags: c.ServiceTags})
	}
	sort.Slice(checks, func(i, j int) bool { return checks[i].CheckID < checks[j].CheckID })
	status := aggregatedStatus(checks)
	switch status {
	case structs.HealthPassing:
		return http.StatusOK, status, checks
	case structs.HealthWarning:
		return http.StatusTooManyRequests, status, checks
	}
	return http.StatusServiceUnavailable, status, checks
}

// wantsText is Consul's returnTextPlain: Accept: text/plain, else
// ?format=text.
func wantsText(r *http.Request) bool {
	if strings.HasPrefix(r.Header.Get("Accept"), "text/plain") {
		return true
	}
	if f := query(r).Get("format"); f != "" {
		return f == "text"
	}
	return false
}

// writeCoded writes a body with its own status code, as Consul's
// CodeWithPayloadError: the status word as text, or obj as JSON.
func writeCoded(w http.ResponseWriter, r *http.Request, code int, text string, obj any) (any, error) {
	if wantsText(r) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(code)
		w.Write([]byte(text))
		return nil, nil
	}
	_, pretty := query(r)["pretty"]
	b, err := encodeJSON(obj, pretty)
	if err != nil {
		return nil, err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
	return nil, nil
}

// agentHealthServiceByID answers /v1/agent/health/service/id/:id.
func (s *Server) agentHealthServiceByID(w http.ResponseWriter, r *http.Request) (any, error) {
	id := tail(r, "/v1/agent/health/service/id/")
	if id == "" {
		return nil, badRequest("Missing serviceID")
	}
	z, err := s.authorize(r)
	if err != nil {
		return nil, err
	}
	ns, ok := s.agent.Services()[id]
	if !ok {
		reason := fmt.Sprintf("ServiceId %s not found", id)
		return writeCoded(w, r, http.StatusNotFound, reason, &agentServiceChecksInfo{AggregatedStatus: structs.HealthCritical})
	}
	if err := z.check(acl.ResourceService, ns.Service, acl.AccessRead); err != nil {
		return nil, err
	}
	code, status, checks := s.localServiceHealth(id, s.agent.Checks())
	info := &agentServiceChecksInfo{AggregatedStatus: status, Service: toAgentService(ns, s.agent.Self().Datacenter), Checks: checks}
	return writeCoded(w, r, code, status, info)
}

// agentHealthServiceByName answers /v1/agent/health/service/name/:name:
// every local instance, the worst status of them all.
func (s *Server) agentHealthServiceByName(w http.ResponseWriter, r *http.Request) (any, error) {
	name := tail(r, "/v1/agent/health/service/name/")
	if name == "" {
		return nil, badRequest("Missing service Name")
	}
	z, err := s.authorize(r)
	if err != nil {
		return nil, err
	}
	if err := z.check(acl.ResourceService, name, acl.AccessRead); err != nil {
		return nil, err
	}
	code, status := http.StatusNotFound, fmt.Sprintf("ServiceName %s Not Found", name)
	var ids []string
	services := s.agent.Services()
	for id, ns := range services {
		if ns.Service == name {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	checks := s.agent.Checks()
	dc := s.agent.Self().Datacenter
	out := make([]agentServiceChecksInfo, 0, len(ids))
	for _, id := range ids {
		scode, sstatus, sc := s.localServiceHealth(id, checks)
		out = append(out, agentServiceChecksInfo{AggregatedStatus: sstatus, Service: toAgentService(services[id], dc), Checks: sc})
		// The worst wins: passing 200 < warning 429 < critical 503.
		if code == http.StatusNotFound || code < scode {
			code, status = scode, sstatus
		}
	}
	return writeCoded(w, r, code, status, out)
}

// coordinateUpdate answers PUT /v1/coordinate/update: a node's LAN
// coordinate (api.CoordinateEntry) sent to the servers (node:write).
func (s *Server) coordinateUpdate(_ http.ResponseWriter, r *http.Request) (any, error) {
	b, err := readBody(r, s.cfg.MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	var body struct {
		Node      string
		Segment   string
		Partition string
		Coord     *coordinate.Coordinate
	}
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&body); err != nil {
		return nil, badRequest("Request decode failed: %s", describeJSONError(err))
	}
	args := structs.CoordinateUpdateRequest{Node: body.Node, Coord: body.Coord}
	parseWrite(r, &args.Datacenter, &args.WriteRequest)
	if err := s.agent.RPC(r.Context(), structs.MethodCoordinateUpdate, &args, &struct{}{}); err != nil {
		return nil, err
	}
	return nil, nil
}
