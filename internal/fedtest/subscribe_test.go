package fedtest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"consulate/internal/fedtest"
	"consulate/structs"
)

// streamed runs Subscribe.ServiceHealth on n in the background.
type streamed struct {
	events chan *structs.ServiceHealthEvent
	done   chan error
}

func subscribeOn(t *testing.T, n *fedtest.Node, req *structs.SubscribeRequest) *streamed {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &streamed{events: make(chan *structs.ServiceHealthEvent, 16), done: make(chan error, 1)}
	go func() {
		s.done <- n.Server.Stream(ctx, structs.MethodSubscribeServiceHealth, req, func(f any) error {
			select {
			case s.events <- f.(*structs.ServiceHealthEvent):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			t.Error("subscription did not end after cancel")
		}
	})
	return s
}

func (s *streamed) next(t *testing.T) *structs.ServiceHealthEvent {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case err := <-s.done:
		t.Fatalf("stream ended: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no frame within 5s")
	}
	return nil
}

// A subscription sent to a dc1 follower for dc2 is relayed to a dc2
// server: its snapshot and deltas are dc2's, with dc2's indexes; killing
// dc2's leader ends it.
func TestSubscribeAcrossDatacenters(t *testing.T) {
	c := twoDCs(t)
	register(t, c.Followers("dc2")[0], "", "remote-1", "web", structs.HealthPassing)
	from := c.Followers("dc1")[0]
	// The dc2 server must have applied the registration before it answers.
	c.WaitFor("dc2 followers to have the node", func() bool {
		for _, n := range c.Servers("dc2") {
			var out structs.IndexedCheckServiceNodes
			if err := callErr(n, structs.MethodHealthServiceNodes, &structs.ServiceSpecificRequest{ServiceName: "web",
				QueryOptions: structs.QueryOptions{AllowStale: true}}, &out); err != nil || len(out.Nodes) != 1 {
				return false
			}
		}
		return true
	})
	sub := subscribeOn(t, from, &structs.SubscribeRequest{Datacenter: "dc2", ServiceName: "web"})
	ev := sub.next(t)
	if !ev.Snapshot || len(ev.Nodes) != 1 || ev.Nodes[0].Node.Node != "remote-1" {
		t.Fatalf("snapshot %+v", ev)
	}
	var direct structs.IndexedCheckServiceNodes
	call(t, from, structs.MethodHealthServiceNodes, &structs.ServiceSpecificRequest{Datacenter: "dc2", ServiceName: "web"}, &direct)
	if ev.Index != direct.Index {
		t.Fatalf("snapshot index %d, dc2's Health.ServiceNodes %d", ev.Index, direct.Index)
	}

	register(t, from, "dc2", "remote-2", "web", structs.HealthCritical)
	ev = sub.next(t)
	if ev.Snapshot || len(ev.Nodes) != 1 || ev.Nodes[0].Node.Node != "remote-2" {
		t.Fatalf("delta %+v", ev)
	}

	c.Kill(c.Leader("dc2"))
	select {
	case err := <-sub.done:
		sub.done <- err
		// A follower it was relayed to ends it with ErrSubscriptionClosed;
		// the leader itself, killed, breaks the session.
		if !errors.Is(err, structs.ErrSubscriptionClosed) && !errors.Is(err, fedtest.ErrSessionClosed) {
			t.Fatalf("after dc2's leader died: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlived dc2's leader")
	}
}

// A follower ends its subscriptions with ErrSubscriptionClosed when its
// leader goes away, so no client keeps a view from a server that may be
// cut off from the cluster.
func TestSubscribeEndsOnLeaderChange(t *testing.T) {
	c := fedtest.New(t, fedtest.Config{DCs: []fedtest.DC{{Name: "dc1", Servers: 3}}})
	register(t, c.Leader("dc1"), "", "n1", "web", structs.HealthPassing)
	sub := subscribeOn(t, c.Followers("dc1")[0], &structs.SubscribeRequest{ServiceName: "web"})
	sub.next(t)
	c.Kill(c.Leader("dc1"))
	select {
	case err := <-sub.done:
		sub.done <- err
		if !errors.Is(err, structs.ErrSubscriptionClosed) {
			t.Fatalf("after the leader died: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlived its leader")
	}
}
