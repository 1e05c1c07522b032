package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"consulate/structs"
)

// MERGE(issue 12): this file stands in for federation.LocalServers.Stream
// until the streaming transport lands. At merge, delete it and add to
// start.go:
//
//	func (a *Agent) localServersStream() streamFunc { return a.localServers.Stream }
//
// Meanwhile Subscribe.ServiceHealth is emulated with blocking
// Health.ServiceNodes reads through the local servers: every change
// arrives as a whole snapshot at the read's index, and the emulated stream
// ends (the view stops serving) on any error or when the answering server
// knows no leader, as a real stream would. The server re-checks the token
// only when a blocking read wakes, so the wait is short (30 s): a deleted
// token stops being served within it. (A real stream must end when its
// token or policies change, as Consul's do.)

var errNoLeaderKnown = errors.New("agent: answering server knows no leader")

func (a *Agent) localServersStream() streamFunc {
	return func(ctx context.Context, method structs.Method, args any, newFrame func() any, recv func(any) error) error {
		req, ok := args.(*structs.SubscribeRequest)
		if method != structs.MethodSubscribeServiceHealth || !ok {
			return fmt.Errorf("%w: %s", structs.ErrUnknownMethod, method)
		}
		var index uint64
		for ctx.Err() == nil {
			q := &structs.ServiceSpecificRequest{Datacenter: req.Datacenter, ServiceName: req.ServiceName,
				QueryOptions: structs.QueryOptions{Token: req.Token, AllowStale: true,
					MinQueryIndex: index, MaxQueryTime: 30 * time.Second}}
			var out structs.IndexedCheckServiceNodes
			if err := a.localServers.Call(ctx, structs.MethodHealthServiceNodes, q, &out); err != nil {
				return err
			}
			if !out.KnownLeader {
				return errNoLeaderKnown
			}
			if out.Index == index {
				continue // the wait ended without a change
			}
			index = out.Index
			ev := newFrame().(*structs.ServiceHealthEvent)
			*ev = structs.ServiceHealthEvent{Index: out.Index, Snapshot: true, Nodes: out.Nodes,
				ResultsFilteredByACLs: out.ResultsFilteredByACLs}
			if err := recv(ev); err != nil {
				return err
			}
		}
		return ctx.Err()
	}
}
