package dns

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"consulate/structs"
)

func TestRPCQueries(t *testing.T) {
	boom := errors.New("boom")
	nodes := structs.CheckServiceNodes{{Node: &structs.Node{Node: "n1"}}}
	cases := []struct {
		name    string
		resp    structs.PreparedQueryExecuteResponse
		err     error
		wantErr error
		wantTTL time.Duration
	}{
		{name: "answer", resp: structs.PreparedQueryExecuteResponse{Service: "web", Datacenter: "dc2", Nodes: nodes}},
		{name: "ttl", resp: structs.PreparedQueryExecuteResponse{Service: "web", Nodes: nodes, DNS: structs.QueryDNSOptions{TTL: "30s"}}, wantTTL: 30 * time.Second},
		{name: "bad ttl ignored", resp: structs.PreparedQueryExecuteResponse{Service: "web", DNS: structs.QueryDNSOptions{TTL: "soon"}}},
		{name: "not found", err: fmt.Errorf("rpc: %w", structs.ErrNotFound), wantErr: ErrQueryNotFound},
		{name: "other error", err: boom, wantErr: boom},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got *structs.PreparedQueryExecuteRequest
			q := NewRPCQueries(func(ctx context.Context, method structs.Method, args, reply any) error {
				if method != structs.MethodPreparedQueryExecute {
					t.Errorf("method %s", method)
				}
				got = args.(*structs.PreparedQueryExecuteRequest)
				if tc.err != nil {
					return tc.err
				}
				*reply.(*structs.PreparedQueryExecuteResponse) = tc.resp
				return nil
			})
			agent := structs.QuerySource{Datacenter: "dc1", Node: "n0"}
			res, err := q.ExecuteQuery(context.Background(), &QueryRequest{Datacenter: "dc1", Name: "web-q", Agent: agent, AllowStale: true, MaxStale: 5 * time.Second})
			want := &structs.PreparedQueryExecuteRequest{Datacenter: "dc1", QueryIDOrName: "web-q", Agent: agent, Source: agent,
				QueryOptions: structs.QueryOptions{AllowStale: true, MaxStaleDuration: 5 * time.Second}}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("request %+v, want %+v", got, want)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantRes := &QueryResult{Service: tc.resp.Service, Datacenter: tc.resp.Datacenter, Nodes: tc.resp.Nodes, TTL: tc.wantTTL}
			if !reflect.DeepEqual(res, wantRes) {
				t.Fatalf("result %+v, want %+v", res, wantRes)
			}
		})
	}
}
