package dns

import (
	"context"
	"errors"
	"fmt"
	"time"

	"consulate/structs"
)

// RPCQueries is a QueryExecutor that runs NAME.query lookups through the
// PreparedQuery.Execute RPC (the agent's RPC path). A query the servers do
// not know is ErrQueryNotFound; the query's DNS TTL, when it has a valid
// one, becomes the answer's TTL.
type RPCQueries struct {
	rpc func(ctx context.Context, method structs.Method, args, reply any) error
}

var _ QueryExecutor = (*RPCQueries)(nil)

// NewRPCQueries builds an RPCQueries calling rpc.
func NewRPCQueries(rpc func(ctx context.Context, method structs.Method, args, reply any) error) *RPCQueries {
	return &RPCQueries{rpc: rpc}
}

// ExecuteQuery runs the prepared query req.Name in req.Datacenter.
func (q *RPCQueries) ExecuteQuery(ctx context.Context, req *QueryRequest) (*QueryResult, error) {
	args := &structs.PreparedQueryExecuteRequest{
		Datacenter: req.Datacenter, QueryIDOrName: req.Name, Agent: req.Agent, Source: req.Agent,
		QueryOptions: structs.QueryOptions{AllowStale: req.AllowStale, MaxStaleDuration: req.MaxStale},
	}
	var resp structs.PreparedQueryExecuteResponse
	if err := q.rpc(ctx, structs.MethodPreparedQueryExecute, args, &resp); err != nil {
		if errors.Is(err, structs.ErrNotFound) {
			return nil, fmt.Errorf("%w: %v", ErrQueryNotFound, err)
		}
		return nil, err
	}
	res := &QueryResult{Service: resp.Service, Datacenter: resp.Datacenter, Nodes: resp.Nodes}
	if resp.DNS.TTL != "" {
		if d, err := time.ParseDuration(resp.DNS.TTL); err == nil {
			res.TTL = d
		}
	}
	return res, nil
}
