package server

import (
	"context"
	"errors"
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/go-uuid"

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
		if findQuery(all, q.ID) == nil {
			return fmt.Errorf("%w: %w %q", structs.ErrNotFound, preparedquery.ErrNotFound, q.ID)
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
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		idx, all, err := st.PreparedQueryList(ws)
		if err != nil {
			return err
		}
		q := findQuery(all, args.QueryID)
		if q == nil {
			return fmt.Errorf("%w: %w %q", structs.ErrNotFound, preparedquery.ErrNotFound, args.QueryID)
		}
		reply.Index, reply.Queries = idx, structs.PreparedQueries{q}
		return nil
	})
}

func (s *Server) preparedQueryList(ctx context.Context, args *structs.DCSpecificRequest, reply *structs.IndexedPreparedQueries) error {
	return s.blockingQuery(ctx, &args.QueryOptions, &reply.QueryMeta, func(ws memdb.WatchSet, st *catalog.Store) error {
		idx, all, err := st.PreparedQueryList(ws)
		reply.Index, reply.Queries = idx, all
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
// forwarder.
func (s *Server) executor(opts structs.QueryOptions, agent structs.QuerySource) *preparedquery.Executor {
	e := &preparedquery.Executor{
		LocalDC: s.cfg.Datacenter,
		Local: func(ctx context.Context, service string) (structs.CheckServiceNodes, error) {
			_, nodes, err := s.State().CheckServiceNodes(nil, service, nil)
			return nodes, err
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
	resp, err := s.executor(args.QueryOptions, args.Agent).Execute(ctx, q, args.Limit)
	if err != nil {
		return err
	}
	*reply = *resp
	s.setQueryMeta(&args.QueryOptions, &reply.QueryMeta)
	reply.Index = max(idx, 1)
	return nil
}

func (s *Server) preparedQueryExecuteRemote(ctx context.Context, args *structs.PreparedQueryExecuteRemoteRequest, reply *structs.PreparedQueryExecuteResponse) error {
	resp, err := s.executor(args.QueryOptions, structs.QuerySource{}).ExecuteLocal(ctx, &args.Query, args.Limit)
	if err != nil {
		return err
	}
	*reply = *resp
	s.setQueryMeta(&args.QueryOptions, &reply.QueryMeta)
	reply.Index = max(s.State().Index("services"), 1)
	return nil
}

func (s *Server) preparedQueryExplain(_ context.Context, args *structs.PreparedQueryExecuteRequest, reply *structs.PreparedQueryExplainResponse) error {
	q, idx, err := s.resolveQuery(args.QueryIDOrName)
	if err != nil {
		return err
	}
	reply.Query = *q
	s.setQueryMeta(&args.QueryOptions, &reply.QueryMeta)
	reply.Index = max(idx, 1)
	return nil
}
