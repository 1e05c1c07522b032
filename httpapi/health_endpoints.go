package httpapi

import (
	"net/http"

	"consulate/httpapi/filter"
	"consulate/structs"
	"consulate/views"
)

// nonNilChecks makes an empty list encode as [] (the rows themselves may be
// shared with the store and are never modified).
func nonNilChecks(c structs.HealthChecks) structs.HealthChecks {
	if c == nil {
		return structs.HealthChecks{}
	}
	return c
}

func (s *Server) healthNode(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.NodeSpecificRequest
	f, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	if err := validateFilter(f, &structs.HealthCheck{}); err != nil {
		return nil, err
	}
	if args.Node = tail(r, "/v1/health/node/"); args.Node == "" {
		return nil, badRequest("Missing node name")
	}
	var out structs.IndexedHealthChecks
	if err := s.rpcRead(w, r, structs.MethodHealthNodeChecks, &args.QueryOptions, &args, &out, &out.QueryMeta); err != nil {
		return nil, err
	}
	return nonNilChecks(filter.Slice(f, out.HealthChecks)), nil
}

func (s *Server) healthChecks(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.ServiceSpecificRequest
	f, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	if err := validateFilter(f, &structs.HealthCheck{}); err != nil {
		return nil, err
	}
	if args.ServiceName = tail(r, "/v1/health/checks/"); args.ServiceName == "" {
		return nil, badRequest("Missing service name")
	}
	if args.NodeMetaFilters, err = nodeMetaFilters(r); err != nil {
		return nil, err
	}
	args.Source = s.source(r, args.Datacenter)
	var out structs.IndexedHealthChecks
	if err := s.rpcRead(w, r, structs.MethodHealthServiceChecks, &args.QueryOptions, &args, &out, &out.QueryMeta); err != nil {
		return nil, err
	}
	return nonNilChecks(filter.Slice(f, out.HealthChecks)), nil
}

func (s *Server) healthState(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.ChecksInStateRequest
	f, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	if err := validateFilter(f, &structs.HealthCheck{}); err != nil {
		return nil, err
	}
	args.State = tail(r, "/v1/health/state/")
	switch args.State {
	case "":
		return nil, badRequest("Missing check state")
	case structs.HealthAny, structs.HealthPassing, structs.HealthWarning, structs.HealthCritical:
	default:
		return nil, badRequest("Invalid check state %q: want any, passing, warning or critical", args.State)
	}
	if args.NodeMetaFilters, err = nodeMetaFilters(r); err != nil {
		return nil, err
	}
	args.Source = s.source(r, args.Datacenter)
	var out structs.IndexedHealthChecks
	if err := s.rpcRead(w, r, structs.MethodHealthChecksInState, &args.QueryOptions, &args, &out, &out.QueryMeta); err != nil {
		return nil, err
	}
	return nonNilChecks(filter.Slice(f, out.HealthChecks)), nil
}

func (s *Server) healthService(w http.ResponseWriter, r *http.Request) (any, error) {
	args, f, err := s.serviceRequest(r, "/v1/health/service/", structs.CheckServiceNode{})
	if err != nil {
		return nil, err
	}
	passing := queryFlag(r, "passing")
	_, pretty := query(r)["pretty"]
	ctx := r.Context()
	// A read a live view may answer carries a probe: the view state that
	// answers names the memoized body (memo.go).
	var probe *healthProbe
	if s.memo != nil && !args.UseCache && args.Source.Node == "" {
		probe = &healthProbe{memo: s.memo, key: memoKey{passing: passing, pretty: pretty,
			translate: s.translates(args.Datacenter), extra: memoExtra(args)}}
		probe.Args = args
		probe.Known = probe.known
		ctx = views.WithProbe(ctx, &probe.Probe)
	}
	var out structs.IndexedCheckServiceNodes
	if err := s.agent.RPC(ctx, structs.MethodHealthServiceNodes, args, &out); err != nil {
		return nil, err
	}
	setMeta(w, &args.QueryOptions, &out.QueryMeta)
	setCacheMeta(w, &args.QueryOptions, &out.QueryMeta)
	translate := s.translate(w, args.Datacenter)
	if probe != nil && probe.body != nil {
		return jsonBody(w, probe.body), nil
	}
	nodes := out.Nodes
	if passing {
		nodes = onlyPassing(nodes)
	}
	nodes = filter.Slice(f, nodes)
	if nodes == nil {
		nodes = structs.CheckServiceNodes{}
	}
	for i := range nodes {
		nodes[i].Checks = nonNilChecks(nodes[i].Checks)
	}
	if translate {
		translateCheckServiceNodes(nodes)
	}
	if probe != nil && probe.Gen != 0 {
		if b, err := encodeJSON(nodes, pretty); err == nil {
			s.memo.put(probe.key, b)
			return jsonBody(w, b), nil
		}
	}
	return nodes, nil
}

// onlyPassing keeps the instances all of whose checks pass.
func onlyPassing(in structs.CheckServiceNodes) structs.CheckServiceNodes {
	out := make(structs.CheckServiceNodes, 0, len(in))
	for _, n := range in {
		ok := true
		for _, c := range n.Checks {
			if c.Status != structs.HealthPassing {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, n)
		}
	}
	return out
}
