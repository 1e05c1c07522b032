package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"consulate/structs"
)

const post = http.MethodPost

// queryBody is a prepared query as the official client sends it. Fields
// our queries do not use (namespaces, peers, Connect) are accepted and
// ignored, since the client always sends them.
type queryBody struct {
	ID       string
	Name     string
	Session  string
	Token    string
	Template structs.QueryTemplateOptions
	Service  structs.ServiceQuery
	DNS      structs.QueryDNSOptions
}

func (b *queryBody) query() *structs.PreparedQuery {
	return &structs.PreparedQuery{ID: b.ID, Name: b.Name, Session: b.Session, Token: b.Token,
		Template: b.Template, Service: b.Service, DNS: b.DNS}
}

// preparedQueries serves /v1/query: GET lists, POST creates.
func (s *Server) preparedQueries(w http.ResponseWriter, r *http.Request) (any, error) {
	if r.Method == post {
		var body queryBody
		if err := s.decodeBody(r, &body, false, false); err != nil {
			return nil, err
		}
		args := structs.PreparedQueryRequest{Op: structs.PreparedQueryCreate, Query: body.query()}
		parseWrite(r, &args.Datacenter, &args.WriteRequest)
		var id string
		if err := s.agent.RPC(r.Context(), structs.MethodPreparedQueryApply, &args, &id); err != nil {
			return nil, err
		}
		return map[string]string{"ID": id}, nil
	}
	var args structs.DCSpecificRequest
	if _, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions); err != nil {
		return nil, err
	}
	var reply structs.IndexedPreparedQueries
	if err := s.agent.RPC(r.Context(), structs.MethodPreparedQueryList, &args, &reply); err != nil {
		return nil, err
	}
	setMeta(w, &args.QueryOptions, &reply.QueryMeta)
	if reply.Queries == nil {
		reply.Queries = structs.PreparedQueries{}
	}
	return reply.Queries, nil
}

// preparedQuery serves /v1/query/:id, /v1/query/:id/execute and
// /v1/query/:id-or-name/explain.
func (s *Server) preparedQuery(w http.ResponseWriter, r *http.Request) (any, error) {
	rest := tail(r, "/v1/query/")
	switch {
	case strings.HasSuffix(rest, "/execute"):
		return s.preparedQueryExecute(w, r, strings.TrimSuffix(rest, "/execute"))
	case strings.HasSuffix(rest, "/explain"):
		return s.preparedQueryExplain(w, r, strings.TrimSuffix(rest, "/explain"))
	}
	if rest == "" || strings.Contains(rest, "/") {
		return nil, notFound("Unknown prepared query path %q", r.URL.Path)
	}
	switch r.Method {
	case put, del:
		args := structs.PreparedQueryRequest{Op: structs.PreparedQueryDelete, Query: &structs.PreparedQuery{ID: rest}}
		if r.Method == put {
			var body queryBody
			if err := s.decodeBody(r, &body, false, false); err != nil {
				return nil, err
			}
			args.Op, args.Query = structs.PreparedQueryUpdate, body.query()
			args.Query.ID = rest
		}
		parseWrite(r, &args.Datacenter, &args.WriteRequest)
		var id string
		if err := s.agent.RPC(r.Context(), structs.MethodPreparedQueryApply, &args, &id); err != nil {
			return nil, err
		}
		return nil, nil
	}
	args := structs.PreparedQuerySpecificRequest{QueryID: rest}
	if _, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions); err != nil {
		return nil, err
	}
	var reply structs.IndexedPreparedQueries
	if err := s.agent.RPC(r.Context(), structs.MethodPreparedQueryGet, &args, &reply); err != nil {
		return nil, err
	}
	setMeta(w, &args.QueryOptions, &reply.QueryMeta)
	return reply.Queries, nil
}

func (s *Server) executeArgs(r *http.Request, idOrName string) (*structs.PreparedQueryExecuteRequest, error) {
	self := s.agent.Self()
	args := &structs.PreparedQueryExecuteRequest{
		QueryIDOrName: idOrName,
		Agent:         structs.QuerySource{Datacenter: self.Datacenter, Node: self.NodeName},
	}
	if _, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions); err != nil {
		return nil, err
	}
	if v := query(r).Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, badRequest("Invalid limit %q", v)
		}
		args.Limit = n
	}
	args.Source = args.Agent
	if near := query(r).Get("near"); near != "" && near != "_agent" {
		args.Source.Node = near
	}
	return args, nil
}

func (s *Server) preparedQueryExecute(w http.ResponseWriter, r *http.Request, idOrName string) (any, error) {
	if r.Method != get {
		return nil, &codedError{code: http.StatusMethodNotAllowed, msg: "method " + r.Method + " not allowed"}
	}
	args, err := s.executeArgs(r, idOrName)
	if err != nil {
		return nil, err
	}
	var reply structs.PreparedQueryExecuteResponse
	if err := s.agent.RPC(r.Context(), structs.MethodPreparedQueryExecute, args, &reply); err != nil {
		return nil, err
	}
	setMeta(w, &args.QueryOptions, &reply.QueryMeta)
	setCacheMeta(w, &args.QueryOptions, &reply.QueryMeta)
	if reply.Nodes == nil {
		reply.Nodes = structs.CheckServiceNodes{}
	}
	return reply, nil
}

func (s *Server) preparedQueryExplain(w http.ResponseWriter, r *http.Request, idOrName string) (any, error) {
	if r.Method != get {
		return nil, &codedError{code: http.StatusMethodNotAllowed, msg: "method " + r.Method + " not allowed"}
	}
	args, err := s.executeArgs(r, idOrName)
	if err != nil {
		return nil, err
	}
	var reply structs.PreparedQueryExplainResponse
	if err := s.agent.RPC(r.Context(), structs.MethodPreparedQueryExplain, args, &reply); err != nil {
		return nil, err
	}
	setMeta(w, &args.QueryOptions, &reply.QueryMeta)
	return reply, nil
}

// operatorWAN serves /v1/operator/wan: the per-datacenter WAN health view,
// on a client agent (no WANHealth) asked of a server (operator:read).
func (s *Server) operatorWAN(w http.ResponseWriter, r *http.Request) (any, error) {
	if s.cfg.WANHealth == nil {
		return s.operatorWANFromServer(r)
	}
	return s.cfg.WANHealth(r.Context())
}
