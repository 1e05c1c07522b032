package server

import (
	"context"
	"errors"
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/go-uuid"

	"consulate/acl"
	"consulate/catalog"
	"consulate/preparedquery"
	"consulate/structs"
)

// failoverOrderer is implemented by forwarders that know datacenter
// distances (federation.Router); without one, only the listed
// datacenters are tried.
type failoverOrderer interface {
	FailoverOrder(nearestN int, listed []string) []string
}

func (s *Server) preparedQueryApply(_ context.Context, args *structs.PreparedQueryRequest, reply *string) error {
	if args.Query == nil {
		return badRequest("Missing query")
	}
	q := *args.Query
	z, err := s.authorizer(args.Token)
	if err != nil {
		return err
	}
	if prefix, ok := queryPrefix(&q); ok && args.Op != structs.PreparedQueryDelete {
		if err := z.check(acl.ResourceQuery, prefix, acl.AccessWrite); err != nil {
			return err
		}
	}
	switch args.Op {
	case structs.PreparedQueryCreate:
		if q.ID != "" {
			return badRequest("ID must be empty when creating a new prepared query")
		}
		id, err := uuid.GenerateUUID()
		if err != nil {
			return err
		}
		q.ID = id
	case structs.PreparedQueryUpdate, structs.PreparedQueryDelete:
		if q.ID == "" {
			return badRequest("Must provide a query ID")
		}
		_, all, err := s.State().PreparedQueryList(nil)
		if err != nil {
			return err
		}
		old := findQuery(all, q.ID)
		if old == nil {
			return fmt.Errorf("%w: %w %q", structs.ErrNotFound, preparedquery.ErrNotFound, q.ID)
		}
		if prefix, ok := queryPrefix(old); ok {
			if err := z.check(acl.ResourceQuery, prefix, acl.AccessWrite); err != nil {
				return err
			}
		}
	default:
		return badRequest("Unknown prepared query operation %q", args.Op)
	}
	if args.Op != structs.PreparedQueryDelete {
		if err := preparedquery.Validate(&q); err != nil {
			return err
		}
	}
	req := *args
	req.Query = &q
	if _, err := s.raftApply(catalog.PreparedQueryRequestType, &req); err != nil {
		return err
	}
	*reply = q.ID
	return nil
}

func findQuery(all structs.PreparedQueries, id string) *structs.PreparedQuery {
	for _, q := range all {
		if q.ID == id {
			return q
		}
	}
	return nil
}

func (s *Server) preparedQueryGet(ctx context.Context, args *structs.PreparedQuerySpecificRequest, reply *structs.IndexedPreparedQueries) error {
	if _, err := s.authorizer(args.Token); err != nil {
		return err
	}
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		// Resolved on every wake: a token deleted or narrowed while the
		// query waits counts at once.
		z, err := s.authorizer(args.Token)
		if err != nil {
			return err
		}
		idx, all, err := st.PreparedQueryList(ws)
		if err != nil {
			return err
		}
		q := findQuery(all, args.QueryID)
		if q == nil {
			return fmt.Errorf("%w: %w %q", structs.ErrNotFound, preparedquery.ErrNotFound, args.QueryID)
		}
		reply.Index = idx
		reply.Queries, reply.ResultsFilteredByACLs = z.filterQueries(structs.PreparedQueries{q})
		if len(reply.Queries) == 0 {
			return &acl.PermissionDeniedError{Accessor: z.accessor, Resource: acl.ResourceQuery, Access: acl.AccessRead, Name: q.Name}
		}
		return nil
	})
}

func (s *Server) preparedQueryList(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.IndexedPreparedQueries) error {
	if _, err := s.authorizer(args.Token); err != nil {
		return err
	}
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		// Resolved on every wake: a token deleted or narrowed while the
		// query waits counts at once.
		z, err := s.authorizer(args.Token)
		if err != nil {
			return err
		}
		idx, all, err := st.PreparedQueryList(ws)
		reply.Index = idx
		reply.Queries, reply.ResultsFilteredByACLs = z.filterQueries(all)
		return err
	})
}

// resolveQuery finds the query a name or ID stands for.
func (s *Server) resolveQuery(idOrName string) (*structs.PreparedQuery, uint64, error) {
	idx, all, err := s.State().PreparedQueryList(nil)
	if err != nil {
		return nil, 0, err
	}
	q, err := preparedquery.Resolve(all, idOrName)
	if errors.Is(err, preparedquery.ErrNotFound) {
		return nil, 0, fmt.Errorf("%w: %w", structs.ErrNotFound, err)
	}
	return q, idx, err
}

// executor builds the prepared-query executor over this server's store and
// forwarder. The local instances are filtered with z before the executor
// sees them, as Consul does: instances the token may not read neither
// count as an answer (a query whose local instances are all hidden fails
// over) nor take a place under the limit. *filtered records whether ACLs
// hid any local instance.
func (s *Server) executor(opts structs.QueryOptions, agent structs.QuerySource, z *authz, filtered *bool) *preparedquery.Executor {
	e := &preparedquery.Executor{
		LocalDC: s.cfg.Datacenter,
		Local: func(ctx context.Context, service string) (structs.CheckServiceNodes, error) {
			_, nodes, err := s.State().CheckServiceNodes(nil, service, nil)
			if err != nil {
				return nil, err
			}
			nodes, hidden := z.filterCheckServiceNodes(nodes)
			*filtered = *filtered || hidden
			return nodes, nil
		},
		AgentNode: agent.Node,
		Near: func(node string, nodes structs.CheckServiceNodes) bool {
			return sortByDistance(s.State(), structs.QuerySource{Node: node}, s.cfg.Datacenter, nodes,
				func(n structs.CheckServiceNode) string { return n.Node.Node })
		},
	}
	if s.forwarder != nil {
		e.Remote = func(ctx context.Context, dc string, q *structs.PreparedQuery, limit int) (*structs.PreparedQueryExecuteResponse, error) {
			req := &structs.PreparedQueryExecuteRemoteRequest{Datacenter: dc, Query: *q, Limit: limit, QueryOptions: opts}
			req.MinQueryIndex = 0
			var resp structs.PreparedQueryExecuteResponse
			if err := s.forwarder.ForwardDC(ctx, structs.Datacenter(dc), structs.MethodPreparedQueryExecuteRemote, req, &resp); err != nil {
				return nil, err
			}
			return &resp, nil
		}
		if o, ok := s.forwarder.(failoverOrderer); ok {
			e.Order = o.FailoverOrder
		} else {
			e.Order = func(_ int, listed []string) []string { return listed }
		}
	}
	return e
}

func (s *Server) preparedQueryExecute(ctx context.Context, args *structs.PreparedQueryExecuteRequest, reply *structs.PreparedQueryExecuteResponse) error {
	q, idx, err := s.resolveQuery(args.QueryIDOrName)
	if err != nil {
		return err
	}
	z, err := s.queryExecAuthz(q, args.Token)
	if err != nil {
		return err
	}
	var localFiltered bool
	resp, err := s.executor(args.QueryOptions, args.Agent, z, &localFiltered).Execute(ctx, q, args.Limit)
	if err != nil {
		return err
	}
	*reply = *resp
	remoteFiltered := resp.ResultsFilteredByACLs
	s.setQueryMeta(&args.QueryOptions, &reply.QueryMeta)
	if resp.Datacenter == s.cfg.Datacenter {
		// Filtered before the executor decided (see executor).
		reply.ResultsFilteredByACLs = localFiltered
	} else {
		// The remote datacenter filtered with the same token; this
		// datacenter's view of it is applied too.
		var hidden bool
		reply.Nodes, hidden = z.filterCheckServiceNodes(reply.Nodes)
		reply.ResultsFilteredByACLs = remoteFiltered || hidden
	}
	reply.Index = max(idx, 1)
	return nil
}

func (s *Server) preparedQueryExecuteRemote(ctx context.Context, args *structs.PreparedQueryExecuteRemoteRequest, reply *structs.PreparedQueryExecuteResponse) error {
	z, err := s.queryExecAuthz(&args.Query, args.Token)
	if err != nil {
		return err
	}
	var filtered bool
	resp, err := s.executor(args.QueryOptions, structs.QuerySource{}, z, &filtered).ExecuteLocal(ctx, &args.Query, args.Limit)
	if err != nil {
		return err
	}
	*reply = *resp
	s.setQueryMeta(&args.QueryOptions, &reply.QueryMeta)
	reply.ResultsFilteredByACLs = filtered
	reply.Index = max(s.State().Index("services"), 1)
	return nil
}

func (s *Server) preparedQueryExplain(_ context.Context, args *structs.PreparedQueryExecuteRequest, reply *structs.PreparedQueryExplainResponse) error {
	q, idx, err := s.resolveQuery(args.QueryIDOrName)
	if err != nil {
		return err
	}
	z, err := s.authorizer(args.Token)
	if err != nil {
		return err
	}
	if z != nil {
		visible, _ := z.filterQueries(structs.PreparedQueries{q})
		if len(visible) == 0 {
			return &acl.PermissionDeniedError{Accessor: z.accessor, Resource: acl.ResourceQuery, Access: acl.AccessRead, Name: q.Name}
		}
		q = visible[0]
	}
	reply.Query = *q
	s.setQueryMeta(&args.QueryOptions, &reply.QueryMeta)
	reply.Index = max(idx, 1)
	return nil
}

// queryExecAuthz is the authorizer a prepared query's results are filtered
// with: the query's own token when it has one, else the caller's.
func (s *Server) queryExecAuthz(q *structs.PreparedQuery, caller string) (*authz, error) {
	if q.Token != "" && q.Token != redactedToken {
		return s.authorizer(q.Token)
	}
	return s.authorizer(caller)
}
