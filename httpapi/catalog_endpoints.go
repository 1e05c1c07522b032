package httpapi

import (
	"net/http"
	"strings"

	"consulate/httpapi/filter"
	"consulate/structs"
)

// rpcRead calls a read RPC and writes its meta headers.
func (s *Server) rpcRead(w http.ResponseWriter, r *http.Request, method structs.Method, q *structs.QueryOptions, args any, reply any, meta *structs.QueryMeta) error {
	if err := s.agent.RPC(r.Context(), method, args, reply); err != nil {
		return err
	}
	setMeta(w, q, meta)
	return nil
}

// nodeMetaFilters parses repeatable ?node-meta=key:value.
func nodeMetaFilters(r *http.Request) (map[string]string, error) {
	vals := query(r)["node-meta"]
	if len(vals) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(vals))
	for _, v := range vals {
		k, val, _ := strings.Cut(v, ":")
		if k == "" {
			return nil, badRequest("Invalid node-meta %q: want key:value", v)
		}
		out[k] = val
	}
	return out, nil
}

// source fills the ?near= source; "_agent" means this agent's node.
func (s *Server) source(r *http.Request, dc string) structs.QuerySource {
	near := query(r).Get("near")
	if near == "_agent" {
		near = s.agent.Self().NodeName
	}
	return structs.QuerySource{Datacenter: dc, Node: near}
}

func (s *Server) catalogRegister(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.RegisterRequest
	if err := s.decodeBody(r, &args, false, false); err != nil {
		return nil, err
	}
	if dc := query(r).Get("dc"); dc != "" && args.Datacenter == "" {
		args.Datacenter = dc
	}
	args.Token = token(r)
	switch {
	case args.Node == "":
		return nil, badRequest("Must provide node")
	case args.Address == "":
		return nil, badRequest("Must provide address")
	}
	if args.Service != nil {
		if args.Service.Service == "" {
			return nil, badRequest("Must provide service name")
		}
		if args.Service.ID == "" {
			args.Service.ID = args.Service.Service
		}
	}
	if args.Check != nil {
		args.Checks = append(args.Checks, args.Check)
		args.Check = nil
	}
	for _, c := range args.Checks {
		if c == nil {
			return nil, badRequest("Invalid check: null")
		}
		if c.CheckID == "" {
			return nil, badRequest("Invalid check: missing CheckID")
		}
		if c.Node == "" {
			c.Node = args.Node
		}
		if c.Status == "" {
			c.Status = structs.HealthCritical
		}
	}
	var out struct{}
	if err := s.agent.RPC(r.Context(), structs.MethodCatalogRegister, &args, &out); err != nil {
		return nil, err
	}
	return true, nil
}

func (s *Server) catalogDeregister(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.DeregisterRequest
	if err := s.decodeBody(r, &args, false, false); err != nil {
		return nil, err
	}
	if dc := query(r).Get("dc"); dc != "" && args.Datacenter == "" {
		args.Datacenter = dc
	}
	args.Token = token(r)
	if args.Node == "" {
		return nil, badRequest("Must provide node")
	}
	var out struct{}
	if err := s.agent.RPC(r.Context(), structs.MethodCatalogDeregister, &args, &out); err != nil {
		return nil, err
	}
	return true, nil
}

func (s *Server) catalogDatacenters(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.EmptyRequest
	if _, err := s.parseRead(r, nil, &args.QueryOptions); err != nil {
		return nil, err
	}
	var out structs.DatacentersReply
	if err := s.agent.RPC(r.Context(), structs.MethodCatalogDatacenters, &args, &out); err != nil {
		return nil, err
	}
	if out.Datacenters == nil {
		out.Datacenters = []string{}
	}
	return out.Datacenters, nil
}

func (s *Server) catalogNodes(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.DCSpecificRequest
	f, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	if err := validateFilter(f, &structs.Node{}); err != nil {
		return nil, err
	}
	if args.NodeMetaFilters, err = nodeMetaFilters(r); err != nil {
		return nil, err
	}
	args.Source = s.source(r, args.Datacenter)
	var out structs.IndexedNodes
	if err := s.rpcRead(w, r, structs.MethodCatalogListNodes, &args.QueryOptions, &args, &out, &out.QueryMeta); err != nil {
		return nil, err
	}
	nodes := filter.Slice(f, out.Nodes)
	if nodes == nil {
		nodes = structs.Nodes{}
	}
	if s.translate(w, args.Datacenter) {
		translateNodes(nodes)
	}
	return nodes, nil
}

func (s *Server) catalogServices(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.DCSpecificRequest
	// The filter goes to the server (it applies to service instances, which
	// this reply no longer carries); it is still checked here.
	f, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	if err := validateFilter(f, &structs.ServiceNode{}); err != nil {
		return nil, err
	}
	if args.NodeMetaFilters, err = nodeMetaFilters(r); err != nil {
		return nil, err
	}
	var out structs.IndexedServices
	if err := s.rpcRead(w, r, structs.MethodCatalogListServices, &args.QueryOptions, &args, &out, &out.QueryMeta); err != nil {
		return nil, err
	}
	setCacheMeta(w, &args.QueryOptions, &out.QueryMeta)
	if out.Services == nil {
		out.Services = map[string][]string{}
	}
	for k, v := range out.Services {
		if v == nil {
			out.Services[k] = []string{}
		}
	}
	return out.Services, nil
}

// serviceRequest reads what /v1/catalog/service/:name and
// /v1/health/service/:name share: the read options, the filter (checked
// against sample), the name after prefix, ?tag=, ?node-meta= and ?near=.
func (s *Server) serviceRequest(r *http.Request, prefix string, sample any) (*structs.ServiceSpecificRequest, *filter.Expr, error) {
	var args structs.ServiceSpecificRequest
	f, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions)
	if err != nil {
		return nil, nil, err
	}
	if err := validateFilter(f, sample); err != nil {
		return nil, nil, err
	}
	if args.ServiceName = tail(r, prefix); args.ServiceName == "" {
		return nil, nil, badRequest("Missing service name")
	}
	if tags := query(r)["tag"]; len(tags) > 0 {
		args.ServiceTags, args.TagFilter = tags, true
	}
	if args.NodeMetaFilters, err = nodeMetaFilters(r); err != nil {
		return nil, nil, err
	}
	args.Source = s.source(r, args.Datacenter)
	return &args, f, nil
}

func (s *Server) catalogService(w http.ResponseWriter, r *http.Request) (any, error) {
	args, f, err := s.serviceRequest(r, "/v1/catalog/service/", &structs.ServiceNode{})
	if err != nil {
		return nil, err
	}
	var out structs.IndexedServiceNodes
	if err := s.rpcRead(w, r, structs.MethodCatalogServiceNodes, &args.QueryOptions, args, &out, &out.QueryMeta); err != nil {
		return nil, err
	}
	setCacheMeta(w, &args.QueryOptions, &out.QueryMeta)
	nodes := filter.Slice(f, out.ServiceNodes)
	if nodes == nil {
		nodes = structs.ServiceNodes{}
	}
	if s.translate(w, args.Datacenter) {
		translateServiceNodes(nodes)
	}
	return nodes, nil
}

func (s *Server) nodeServices(w http.ResponseWriter, r *http.Request, prefix string) (*structs.IndexedNodeServices, *filter.Expr, error) {
	var args structs.NodeSpecificRequest
	f, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions)
	if err != nil {
		return nil, nil, err
	}
	if err := validateFilter(f, &agentService{}); err != nil {
		return nil, nil, err
	}
	args.Node = tail(r, prefix)
	if args.Node == "" {
		return nil, nil, badRequest("Missing node name")
	}
	var out structs.IndexedNodeServices
	if err := s.rpcRead(w, r, structs.MethodCatalogNodeServices, &args.QueryOptions, &args, &out, &out.QueryMeta); err != nil {
		return nil, nil, err
	}
	return &out, f, nil
}

func (s *Server) catalogNode(w http.ResponseWriter, r *http.Request) (any, error) {
	out, f, err := s.nodeServices(w, r, "/v1/catalog/node/")
	if err != nil {
		return nil, err
	}
	if out.NodeServices == nil || out.NodeServices.Node == nil {
		// Consul answers an unknown node with 200 and null.
		return nullBody{}, nil
	}
	svcs := make(map[string]*agentService, len(out.NodeServices.Services))
	for id, ns := range out.NodeServices.Services {
		svcs[id] = toAgentService(ns, out.NodeServices.Node.Datacenter)
	}
	return map[string]any{"Node": out.NodeServices.Node, "Services": filter.Map(f, svcs)}, nil
}

func (s *Server) catalogNodeServiceList(w http.ResponseWriter, r *http.Request) (any, error) {
	out, f, err := s.nodeServices(w, r, "/v1/catalog/node-services/")
	if err != nil {
		return nil, err
	}
	if out.NodeServices == nil || out.NodeServices.Node == nil {
		return nil, notFound("Node not found")
	}
	list := make([]*agentService, 0, len(out.NodeServices.Services))
	for _, id := range sortedKeys(out.NodeServices.Services) {
		list = append(list, toAgentService(out.NodeServices.Services[id], out.NodeServices.Node.Datacenter))
	}
	return map[string]any{"Node": out.NodeServices.Node, "Services": filter.Slice(f, list)}, nil
}

// nullBody encodes as JSON null.
type nullBody struct{}

func (nullBody) MarshalJSON() ([]byte, error) { return []byte("null"), nil }
