package server

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"time"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"

	"consulate/rpcmux"
	"consulate/structs"
)

// The server serves the streams of its own port too.
var _ rpcmux.StreamHandler = (*Server)(nil)

// streamEp builds the endpoint of a streaming method whose frames are F.
func streamEp[A, F any](fn func(ctx context.Context, args *A, send func(frame any) error) error) endpoint {
	return endpoint{
		route:    routeLocal,
		newArgs:  func() any { return new(A) },
		newFrame: func() any { return new(F) },
		stream: func(ctx context.Context, args any, send func(any) error) error {
			a, ok := args.(*A)
			if !ok {
				return &structs.BadRequestError{Reason: fmt.Sprintf("rpc: args is %T, want %T", args, a)}
			}
			return fn(ctx, a, send)
		},
	}
}

// Stream serves a streaming method (structs.IsStreamMethod); the server
// is the rpcmux.StreamHandler of its port. A request for another
// datacenter is relayed through the Forwarder, frames passed through.
// Every stream counts against Config.MaxSubscriptions; over it the
// stream fails with structs.ErrRateLimited.
func (s *Server) Stream(ctx context.Context, method structs.Method, args any, send func(frame any) error) error {
	e, ok := s.endpoints[method]
	if !ok || e.stream == nil {
		return fmt.Errorf("%w: %q is not a stream method", structs.ErrUnknownMethod, method)
	}
	if s.raft == nil || s.shutdownCtx.Err() != nil {
		return ErrNotStarted
	}
	info, ok := args.(structs.RPCInfo)
	if !ok || args == nil {
		return &structs.BadRequestError{Reason: fmt.Sprintf("rpc: %T is not a request", args)}
	}
	if s.limiter != nil {
		if err := s.limiter.allow(method, info.IsRead()); err != nil {
			return err
		}
	}
	// Shutdown waits for the streams (before it closes the port, so that
	// their last frame can still say why they end).
	s.subsMu.Lock()
	if s.shutdownCtx.Err() != nil {
		s.subsMu.Unlock()
		return fmt.Errorf("%w: server shutting down", structs.ErrSubscriptionClosed)
	}
	s.subsWG.Add(1)
	s.subsMu.Unlock()
	defer s.subsWG.Done()
	n := s.subscriptions.Add(1)
	defer s.subscriptions.Add(-1)
	if limit := s.cfg.MaxSubscriptions; limit > 0 && n > int64(limit) {
		return fmt.Errorf("%w: this server serves %d subscriptions already", structs.ErrRateLimited, limit)
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.shutdownCtx, cancel)
	defer stop()
	var err error
	if dc := info.RequestDatacenter(); dc != "" && dc != s.cfg.Datacenter {
		if s.forwarder == nil {
			return &structs.ErrUnknownDC{DC: dc, Known: []string{s.cfg.Datacenter}}
		}
		err = s.forwarder.StreamDC(sctx, structs.Datacenter(dc), method, args, e.newFrame, send)
	} else {
		err = e.stream(sctx, args, send)
	}
	if err != nil && ctx.Err() == nil && s.shutdownCtx.Err() != nil {
		return fmt.Errorf("%w: server shutting down", structs.ErrSubscriptionClosed)
	}
	return err
}

// Subscriptions is the number of streams this server is serving.
func (s *Server) Subscriptions() int { return int(s.subscriptions.Load()) }

// subscribeServiceHealth is Subscribe.ServiceHealth: a snapshot of the
// service's instances as Health.ServiceNodes reads them (same store read,
// same ACL filter, same index), then on every change of them the delta
// from the previous frame, and a heartbeat (a frame with nothing in it
// but the current index) whenever it sent nothing for
// Config.SubscriptionHeartbeat. It ends with structs.ErrSubscriptionClosed
// when the state store is replaced (snapshot restore), when the leader
// this server knows changes or it has none, and on Shutdown; with the
// ACL error when the token no longer resolves.
func (s *Server) subscribeServiceHealth(ctx context.Context, args *structs.SubscribeRequest, send func(any) error) error {
	if args.ServiceName == "" {
		return badRequest("Must provide service name")
	}
	if _, err := s.authorizer(args.Token); err != nil {
		return err
	}
	leader := s.Leader()
	if leader == "" {
		// Another server may have one: let the client try it.
		return fmt.Errorf("%w: cannot subscribe", structs.ErrNoLeader)
	}
	var (
		sent     map[structs.ServiceInstanceID]structs.CheckServiceNode
		lastIdx  uint64
		filtered bool
		lastSent time.Time
	)
	for {
		changed := s.leaderChangedCh()
		if err := s.subscriptionLive(leader); err != nil {
			return err
		}
		st := s.fsm.State()
		ws := memdb.NewWatchSet()
		ws.Add(st.AbandonCh())
		ws.Add(changed)
		ws.Add(s.shutdownCtx.Done())
		idx, nodes, f, err := s.readServiceHealth(ws, st, args.Token, args.ServiceName, nil, nil)
		if err != nil {
			return err
		}
		idx = max(idx, 1) // as blockingQuery answers Health.ServiceNodes
		// A token deleted, expired or narrowed wakes the loop like a
		// change of the service: the next read ends the stream with the
		// ACL error or sends the instances it may no longer see as gone.
		stopACLWatch := s.watchAuthz(ws, args.Token)
		ev := diffInstances(sent, nodes)
		if sent == nil || idx != lastIdx || f != filtered || len(ev.Nodes) > 0 || len(ev.Deleted) > 0 {
			ev.Snapshot = sent == nil
			ev.Index, ev.ResultsFilteredByACLs = idx, f
			if err := send(ev); err != nil {
				stopACLWatch()
				return err
			}
			sent, lastIdx, filtered = byInstance(nodes), idx, f
			lastSent = time.Now()
		}
		err = s.watchWithHeartbeats(ctx, ws, leader, &lastSent, func() error {
			return send(&structs.ServiceHealthEvent{Index: lastIdx, ResultsFilteredByACLs: filtered})
		})
		stopACLWatch()
		if err != nil {
			return err
		}
		select {
		case <-st.AbandonCh():
			return fmt.Errorf("%w: state restored from a snapshot", structs.ErrSubscriptionClosed)
		default:
		}
	}
}

// watchWithHeartbeats waits for ws to fire (nil) or ctx to end (its
// error), sending a heartbeat with beat whenever the stream has sent
// nothing for Config.SubscriptionHeartbeat since *lastSent: the
// subscriber counts silence as a dead stream. A heartbeat is sent only
// while the leader the subscription started with is still the one this
// server knows.
func (s *Server) watchWithHeartbeats(ctx context.Context, ws memdb.WatchSet, leader raft.ServerAddress,
	lastSent *time.Time, beat func() error) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, s.cfg.SubscriptionHeartbeat-time.Since(*lastSent))
		err := ws.WatchCtx(wctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		if err := s.subscriptionLive(leader); err != nil {
			return err
		}
		if err := beat(); err != nil {
			return err
		}
		*lastSent = time.Now()
	}
}

// subscriptionLive says why a subscription must end now, if it must: the
// server is shutting down, or the leader it started with is no longer
// the one it knows.
func (s *Server) subscriptionLive(leader raft.ServerAddress) error {
	if s.shutdownCtx.Err() != nil {
		return fmt.Errorf("%w: server shutting down", structs.ErrSubscriptionClosed)
	}
	switch now := s.Leader(); now {
	case leader:
		return nil
	case "":
		return fmt.Errorf("%w: no leader", structs.ErrSubscriptionClosed)
	default:
		return fmt.Errorf("%w: leader changed from %s to %s", structs.ErrSubscriptionClosed, leader, now)
	}
}

// byInstance keys instances by node and service ID.
func byInstance(nodes structs.CheckServiceNodes) map[structs.ServiceInstanceID]structs.CheckServiceNode {
	out := make(map[structs.ServiceInstanceID]structs.CheckServiceNode, len(nodes))
	for _, n := range nodes {
		out[instanceID(n)] = n
	}
	return out
}

func instanceID(n structs.CheckServiceNode) structs.ServiceInstanceID {
	var id structs.ServiceInstanceID
	if n.Node != nil {
		id.Node = n.Node.Node
	}
	if n.Service != nil {
		id.ServiceID = n.Service.ID
	}
	return id
}

// diffInstances returns the frame that moves prev to next: the instances
// added or changed in Nodes (in next's order), the ones gone in Deleted.
// A nil prev makes every instance of next new (the snapshot).
func diffInstances(prev map[structs.ServiceInstanceID]structs.CheckServiceNode, next structs.CheckServiceNodes) *structs.ServiceHealthEvent {
	ev := &structs.ServiceHealthEvent{}
	if prev == nil {
		ev.Nodes = next
		if ev.Nodes == nil {
			ev.Nodes = structs.CheckServiceNodes{}
		}
		return ev
	}
	seen := make(map[structs.ServiceInstanceID]bool, len(next))
	for _, n := range next {
		id := instanceID(n)
		seen[id] = true
		if old, ok := prev[id]; !ok || !reflect.DeepEqual(old, n) {
			ev.Nodes = append(ev.Nodes, n)
		}
	}
	for id := range prev {
		if !seen[id] {
			ev.Deleted = append(ev.Deleted, id)
		}
	}
	slices.SortFunc(ev.Deleted, func(a, b structs.ServiceInstanceID) int {
		return cmp.Or(cmp.Compare(a.Node, b.Node), cmp.Compare(a.ServiceID, b.ServiceID))
	})
	return ev
}
