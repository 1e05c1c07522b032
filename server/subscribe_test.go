package server

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"consulate/rpcmux"
	"consulate/structs"
)

// subscription is a Subscribe.ServiceHealth stream run in the background.
type subscription struct {
	events chan *structs.ServiceHealthEvent
	done   chan error
	cancel context.CancelFunc
}

func subscribeTo(t *testing.T, s *Server, req *structs.SubscribeRequest) *subscription {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sub := &subscription{events: make(chan *structs.ServiceHealthEvent, 64), done: make(chan error, 1), cancel: cancel}
	go func() {
		sub.done <- s.Stream(ctx, structs.MethodSubscribeServiceHealth, req, func(f any) error {
			select {
			case sub.events <- f.(*structs.ServiceHealthEvent):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-sub.done:
		case <-time.After(5 * time.Second):
			t.Error("subscription did not end after cancel")
		}
	})
	return sub
}

// next is the next frame that is not a heartbeat.
func (sub *subscription) next(t *testing.T) *structs.ServiceHealthEvent {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-sub.events:
			if !isHeartbeat(ev) {
				return ev
			}
		case err := <-sub.done:
			sub.done <- err
			t.Fatalf("stream ended: %v", err)
		case <-deadline:
			t.Fatal("no frame within 5s")
		}
	}
}

func isHeartbeat(ev *structs.ServiceHealthEvent) bool {
	return !ev.Snapshot && len(ev.Nodes) == 0 && len(ev.Deleted) == 0
}

func (sub *subscription) end(t *testing.T) error {
	t.Helper()
	for {
		select {
		case <-sub.events:
		case err := <-sub.done:
			sub.done <- err
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("stream did not end within 5s")
		}
	}
}

// directRead is Health.ServiceNodes for web with token.
func directRead(t *testing.T, s *Server, token string) *structs.IndexedCheckServiceNodes {
	t.Helper()
	var out structs.IndexedCheckServiceNodes
	req := &structs.ServiceSpecificRequest{ServiceName: "web"}
	req.Token = token
	rpc(t, s, structs.MethodHealthServiceNodes, req, &out)
	return &out
}

func instanceIDs(nodes structs.CheckServiceNodes) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Node.Node+"/"+n.Service.ID)
	}
	slices.Sort(out)
	return out
}

func TestSubscribeServiceHealthSnapshotThenDeltas(t *testing.T) {
	s := devServer(t)
	registerWeb(t, s, "n1", "10.0.0.1", "web-1")
	registerWeb(t, s, "n2", "10.0.0.2", "web-2")
	sub := subscribeTo(t, s, &structs.SubscribeRequest{ServiceName: "web"})

	ev := sub.next(t)
	direct := directRead(t, s, "")
	if !ev.Snapshot || !slices.Equal(instanceIDs(ev.Nodes), []string{"n1/web-1", "n2/web-2"}) {
		t.Fatalf("snapshot %+v: %v", ev, instanceIDs(ev.Nodes))
	}
	if ev.Index != direct.Index || ev.Index == 0 {
		t.Fatalf("snapshot index %d, Health.ServiceNodes %d", ev.Index, direct.Index)
	}
	if s.Subscriptions() != 1 {
		t.Fatalf("Subscriptions() = %d", s.Subscriptions())
	}

	// Another service changing sends nothing; a check of web-1 turning
	// critical sends web-1 alone.
	rpc(t, s, structs.MethodCatalogRegister, &structs.RegisterRequest{Node: "n9", Address: "10.0.0.9",
		Service: &structs.NodeService{ID: "db", Service: "db", Port: 5432}}, &struct{}{})
	rpc(t, s, structs.MethodCatalogRegister, &structs.RegisterRequest{Node: "n1", Address: "10.0.0.1",
		NodeMeta: map[string]string{"rack": "n1"},
		Checks:   structs.HealthChecks{{CheckID: "web:web-1", Name: "web", ServiceID: "web-1", Status: structs.HealthCritical}}}, &struct{}{})
	ev = sub.next(t)
	direct = directRead(t, s, "")
	if ev.Snapshot || !slices.Equal(instanceIDs(ev.Nodes), []string{"n1/web-1"}) || len(ev.Deleted) != 0 {
		t.Fatalf("check delta %+v: %v", ev, instanceIDs(ev.Nodes))
	}
	if ev.Index != direct.Index {
		t.Fatalf("delta index %d, Health.ServiceNodes %d", ev.Index, direct.Index)
	}
	critical := false
	for _, c := range ev.Nodes[0].Checks {
		critical = critical || (c.CheckID == "web:web-1" && c.Status == structs.HealthCritical)
	}
	if !critical {
		t.Fatalf("delta does not carry the critical check: %+v", ev.Nodes[0].Checks)
	}

	registerWeb(t, s, "n3", "10.0.0.3", "web-3")
	ev = sub.next(t)
	if !slices.Equal(instanceIDs(ev.Nodes), []string{"n3/web-3"}) || ev.Index != directRead(t, s, "").Index {
		t.Fatalf("add delta %+v: %v", ev, instanceIDs(ev.Nodes))
	}

	rpc(t, s, structs.MethodCatalogDeregister, &structs.DeregisterRequest{Node: "n2", ServiceID: "web-2"}, &struct{}{})
	ev = sub.next(t)
	direct = directRead(t, s, "")
	if len(ev.Nodes) != 0 || !slices.Equal(ev.Deleted, []structs.ServiceInstanceID{{Node: "n2", ServiceID: "web-2"}}) {
		t.Fatalf("deregister delta %+v", ev)
	}
	if ev.Index != direct.Index {
		t.Fatalf("delete index %d, Health.ServiceNodes %d", ev.Index, direct.Index)
	}
	select {
	case ev := <-sub.events:
		if !isHeartbeat(ev) {
			t.Fatalf("unexpected frame %+v", ev)
		}
	default:
	}

	// A client cancelling ends it and frees its slot.
	sub.cancel()
	if err := sub.end(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %v", err)
	}
	if s.Subscriptions() != 0 {
		t.Fatalf("Subscriptions() = %d after the end", s.Subscriptions())
	}
}

func TestSubscribeServiceHealthACL(t *testing.T) {
	s := enforcingServer(t, nil)
	for _, n := range []string{"n1", "n2"} {
		rpc(t, s, structs.MethodCatalogRegister, as(testMgmt, &structs.RegisterRequest{Node: n, Address: "10.0.0.1",
			Service: &structs.NodeService{ID: "web-" + n, Service: "web", Port: 80}}), &struct{}{})
	}
	tok := tokenWith(t, s, "web-n1", `service "web" { policy = "read" }
node "n1" { policy = "read" }`)
	sub := subscribeTo(t, s, as(tok, &structs.SubscribeRequest{ServiceName: "web"}))
	ev := sub.next(t)
	direct := directRead(t, s, tok)
	if !slices.Equal(instanceIDs(ev.Nodes), []string{"n1/web-n1"}) || !ev.ResultsFilteredByACLs {
		t.Fatalf("filtered snapshot %+v: %v", ev, instanceIDs(ev.Nodes))
	}
	if ev.Index != direct.Index || !slices.Equal(instanceIDs(direct.Nodes), instanceIDs(ev.Nodes)) ||
		direct.ResultsFilteredByACLs != ev.ResultsFilteredByACLs {
		t.Fatalf("stream %d %v, Health.ServiceNodes %d %v", ev.Index, instanceIDs(ev.Nodes), direct.Index, instanceIDs(direct.Nodes))
	}

	bad := subscribeTo(t, s, as("6a1d3c55-0000-4000-8000-00000000dead", &structs.SubscribeRequest{ServiceName: "web"}))
	if err := bad.end(t); !errors.Is(err, structs.ErrACLNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
}

func TestSubscribeEndsOnRestoreAndShutdown(t *testing.T) {
	s := devServer(t)
	registerWeb(t, s, "n1", "10.0.0.1", "web-1")
	var snap bytes.Buffer
	if _, err := s.SnapshotSave(&snap); err != nil {
		t.Fatal(err)
	}
	sub := subscribeTo(t, s, &structs.SubscribeRequest{ServiceName: "web"})
	sub.next(t)
	if err := s.SnapshotRestore(&snap); err != nil {
		t.Fatal(err)
	}
	if err := sub.end(t); !errors.Is(err, structs.ErrSubscriptionClosed) {
		t.Fatalf("after restore: %v", err)
	}

	sub = subscribeTo(t, s, &structs.SubscribeRequest{ServiceName: "web"})
	sub.next(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sub.end(t); !errors.Is(err, structs.ErrSubscriptionClosed) {
		t.Fatalf("after shutdown: %v", err)
	}
}

func TestSubscribeBoundAndBadRequests(t *testing.T) {
	cfg := testConfig("dev1")
	cfg.Bootstrap, cfg.MaxSubscriptions = true, 1
	s := startServer(t, cfg, Deps{})
	waitLeader(t, s)
	registerWeb(t, s, "n1", "10.0.0.1", "web-1")
	sub := subscribeTo(t, s, &structs.SubscribeRequest{ServiceName: "web"})
	sub.next(t)
	over := subscribeTo(t, s, &structs.SubscribeRequest{ServiceName: "web"})
	if err := over.end(t); !errors.Is(err, structs.ErrRateLimited) {
		t.Fatalf("over the bound: %v", err)
	}
	sub.cancel()
	sub.end(t)
	noName := subscribeTo(t, s, &structs.SubscribeRequest{})
	var br *structs.BadRequestError
	if err := noName.end(t); !errors.As(err, &br) {
		t.Fatalf("no service name: %v", err)
	}
	// A stream method is not a call, and NewCall gives it no reply.
	if err := s.RPC(context.Background(), structs.MethodSubscribeServiceHealth, &structs.SubscribeRequest{ServiceName: "web"}, nil); !errors.As(err, &br) {
		t.Fatalf("RPC on a stream method: %v", err)
	}
	args, reply, ok := s.NewCall(structs.MethodSubscribeServiceHealth)
	if _, isReq := args.(*structs.SubscribeRequest); !ok || !isReq || reply != nil {
		t.Fatalf("NewCall = %T, %T, %v", args, reply, ok)
	}
}

func TestSubscribeRelaysToRemoteDC(t *testing.T) {
	cfg2 := testConfig("dc2-s1")
	cfg2.Datacenter, cfg2.Bootstrap = "dc2", true
	dc2 := startServer(t, cfg2, Deps{})
	waitLeader(t, dc2)
	registerWeb(t, dc2, "n2", "10.0.2.1", "web-2")
	cfg1 := testConfig("dc1-s1")
	cfg1.Bootstrap = true
	dc1 := startServer(t, cfg1, Deps{Forwarder: &dcForwarder{dcs: map[string]*Server{"dc2": dc2}}})
	waitLeader(t, dc1)

	sub := subscribeTo(t, dc1, &structs.SubscribeRequest{Datacenter: "dc2", ServiceName: "web"})
	ev := sub.next(t)
	if !ev.Snapshot || !slices.Equal(instanceIDs(ev.Nodes), []string{"n2/web-2"}) || ev.Index != directRead(t, dc2, "").Index {
		t.Fatalf("relayed snapshot %+v: %v", ev, instanceIDs(ev.Nodes))
	}
	registerWeb(t, dc2, "n3", "10.0.2.2", "web-3")
	if ev := sub.next(t); !slices.Equal(instanceIDs(ev.Nodes), []string{"n3/web-3"}) {
		t.Fatalf("relayed delta %+v", ev)
	}
	if dc1.Subscriptions() != 1 || dc2.Subscriptions() != 1 {
		t.Fatalf("subscriptions dc1 %d dc2 %d", dc1.Subscriptions(), dc2.Subscriptions())
	}
}

// Over the server port: a client's Pool.Stream gets the snapshot and the
// deltas, and the server shutting down ends it with ErrSubscriptionClosed.
func TestSubscribeOverThePort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.3.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig("port1")
	cfg.Bootstrap = true
	cfg.RPC.AdvertiseAddr = ln.Addr()
	s := startServer(t, cfg, Deps{Listener: ln})
	waitLeader(t, s)
	registerWeb(t, s, "n1", "10.0.0.1", "web-1")

	pool, err := rpcmux.NewPool(rpcmux.DefaultPoolConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pool.Shutdown(context.Background()) })
	events := make(chan *structs.ServiceHealthEvent, 16)
	done := make(chan error, 1)
	go func() {
		done <- pool.Stream(context.Background(), "dc1", structs.ServerAddr(ln.Addr().String()), structs.MethodSubscribeServiceHealth,
			&structs.SubscribeRequest{ServiceName: "web"},
			func() any { return new(structs.ServiceHealthEvent) },
			func(f any) error { events <- f.(*structs.ServiceHealthEvent); return nil })
	}()
	sub := &subscription{events: events, done: done}
	ev := sub.next(t)
	if !ev.Snapshot || !slices.Equal(instanceIDs(ev.Nodes), []string{"n1/web-1"}) || ev.Index != directRead(t, s, "").Index {
		t.Fatalf("snapshot over the wire %+v", ev)
	}
	registerWeb(t, s, "n2", "10.0.0.2", "web-2")
	if ev := sub.next(t); !slices.Equal(instanceIDs(ev.Nodes), []string{"n2/web-2"}) || ev.Index != directRead(t, s, "").Index {
		t.Fatalf("delta over the wire %+v", ev)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sub.end(t); !errors.Is(err, structs.ErrSubscriptionClosed) {
		t.Fatalf("on shutdown: %v", err)
	}
}

// A token narrowed or deleted while its stream runs, with no change to the
// service itself, reaches the stream: the instances it may no longer see
// leave the view, and a deleted token ends it with ACL not found.
func TestSubscribeFollowsTokenChanges(t *testing.T) {
	s := enforcingServer(t, nil)
	for _, n := range []string{"n1", "n2"} {
		rpc(t, s, structs.MethodCatalogRegister, as(testMgmt, &structs.RegisterRequest{Node: n, Address: "10.0.0.1",
			Service: &structs.NodeService{ID: "web-" + n, Service: "web", Port: 80}}), &struct{}{})
	}
	var pol structs.ACLPolicy
	rpc(t, s, structs.MethodACLPolicySet, as(testMgmt, &structs.ACLPolicySetRequest{
		Policy: structs.ACLPolicy{Name: "web-all", Rules: `service "web" { policy = "read" }
node_prefix "" { policy = "read" }`}}), &pol)
	var tok structs.ACLToken
	rpc(t, s, structs.MethodACLTokenSet, as(testMgmt, &structs.ACLTokenSetRequest{Create: true,
		ACLToken: structs.ACLToken{Policies: []*structs.ACLLink{{ID: pol.ID}}}}), &tok)

	sub := subscribeTo(t, s, as(tok.SecretID, &structs.SubscribeRequest{ServiceName: "web"}))
	if ev := sub.next(t); !slices.Equal(instanceIDs(ev.Nodes), []string{"n1/web-n1", "n2/web-n2"}) {
		t.Fatalf("snapshot %v", instanceIDs(ev.Nodes))
	}
	pol.Rules = `service "web" { policy = "read" }
node "n1" { policy = "read" }`
	rpc(t, s, structs.MethodACLPolicySet, as(testMgmt, &structs.ACLPolicySetRequest{Policy: pol}), &pol)
	ev := sub.next(t)
	if len(ev.Deleted) != 1 || ev.Deleted[0] != (structs.ServiceInstanceID{Node: "n2", ServiceID: "web-n2"}) || !ev.ResultsFilteredByACLs {
		t.Fatalf("after narrowing the policy: %+v", ev)
	}
	if direct := directRead(t, s, tok.SecretID); ev.Index != direct.Index {
		t.Fatalf("stream index %d, Health.ServiceNodes %d", ev.Index, direct.Index)
	}

	var deleted string
	rpc(t, s, structs.MethodACLTokenDelete, as(testMgmt, &structs.ACLTokenDeleteRequest{TokenID: tok.AccessorID}), &deleted)
	if err := sub.end(t); !errors.Is(err, structs.ErrACLNotFound) {
		t.Fatalf("after deleting the token: %v, want ACL not found", err)
	}
}

// A subscription that has nothing to send sends heartbeats (frames with
// nothing in them) carrying the current index, locally and through a
// relay from another datacenter; a change in between is sent as usual
// and the heartbeats after it carry its index.
func TestSubscribeHeartbeats(t *testing.T) {
	const beat = 50 * time.Millisecond
	cfg2 := testConfig("dc2-s1")
	cfg2.Datacenter, cfg2.Bootstrap, cfg2.SubscriptionHeartbeat = "dc2", true, beat
	dc2 := startServer(t, cfg2, Deps{})
	waitLeader(t, dc2)
	registerWeb(t, dc2, "n1", "10.0.2.1", "web-1")
	cfg1 := testConfig("dc1-s1")
	// The relaying server's own interval does not matter: dc2's
	// heartbeats are passed through.
	cfg1.Bootstrap, cfg1.SubscriptionHeartbeat = true, time.Hour
	dc1 := startServer(t, cfg1, Deps{Forwarder: &dcForwarder{dcs: map[string]*Server{"dc2": dc2}}})
	waitLeader(t, dc1)

	for _, tc := range []struct {
		name string
		via  *Server
		dc   string
	}{{"local", dc2, ""}, {"relayed", dc1, "dc2"}} {
		t.Run(tc.name, func(t *testing.T) {
			sub := subscribeTo(t, tc.via, &structs.SubscribeRequest{Datacenter: tc.dc, ServiceName: "web"})
			raw := func() (*structs.ServiceHealthEvent, time.Time) {
				t.Helper()
				select {
				case ev := <-sub.events:
					return ev, time.Now()
				case err := <-sub.done:
					sub.done <- err
					t.Fatalf("stream ended: %v", err)
				case <-time.After(5 * time.Second):
					t.Fatal("no frame within 5s")
				}
				return nil, time.Time{}
			}
			snap, last := raw()
			if !snap.Snapshot {
				t.Fatalf("first frame %+v", snap)
			}
			idx := snap.Index
			sawChange := false
			for i := 0; i < 8; i++ {
				if i == 3 {
					registerWeb(t, dc2, "n2", "10.0.2.2", "web-"+tc.name)
				}
				ev, at := raw()
				// Silence between frames stays near the interval
				// (bounded loosely: the machine may be loaded).
				if gap := at.Sub(last); gap > 20*beat {
					t.Errorf("frame %d came %v after the previous one (heartbeat %v)", i, gap, beat)
				}
				last = at
				if !isHeartbeat(ev) {
					if ev.Index <= idx {
						t.Fatalf("delta %+v does not move the index from %d", ev, idx)
					}
					idx, sawChange = ev.Index, true
					continue
				}
				if ev.Index != idx {
					t.Fatalf("heartbeat at index %d, last frame's index %d", ev.Index, idx)
				}
				// While the registration is on its way a heartbeat may
				// still carry the index before it.
				if i >= 3 && !sawChange {
					continue
				}
				if want := directRead(t, dc2, "").Index; ev.Index != want {
					t.Fatalf("heartbeat at index %d, Health.ServiceNodes %d", ev.Index, want)
				}
			}
			if !sawChange {
				t.Fatal("the registration was not sent between the heartbeats")
			}
		})
	}
}

func TestConfigRejectsNonPositiveHeartbeat(t *testing.T) {
	cfg := testConfig("x")
	cfg.SubscriptionHeartbeat = 0
	if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Validate with a zero heartbeat: %v", err)
	}
}
