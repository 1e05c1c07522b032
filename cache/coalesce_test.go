package cache

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"consulate/structs"
)

// slowRemote answers every call after a pause, with the number of the call
// as the instance's port, and records when each call started.
type slowRemote struct {
	calls  atomic.Int64
	mu     sync.Mutex
	starts []time.Time
	fail   atomic.Bool
}

func (s *slowRemote) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	n := s.calls.Add(1)
	s.mu.Lock()
	s.starts = append(s.starts, time.Now())
	s.mu.Unlock()
	select {
	case <-time.After(20 * time.Millisecond):
	case <-ctx.Done():
		return ctx.Err()
	}
	if s.fail.Load() {
		return structs.ErrNoDCPath
	}
	out := reply.(*structs.IndexedCheckServiceNodes)
	*out = structs.IndexedCheckServiceNodes{Nodes: structs.CheckServiceNodes{{
		Node: &structs.Node{Node: "n"}, Service: &structs.NodeService{ID: "web", Service: "web", Port: int(n)}}}}
	out.Index = uint64(n)
	return nil
}

// Concurrent reads of another datacenter share calls, and each answer
// comes from a call that started after its read arrived.
func TestRemoteReadsShareCalls(t *testing.T) {
	s := &slowRemote{}
	c := newTestCache(t, s.RPC, func(c *Config) { c.RefreshWait = time.Second })
	defer c.Shutdown(context.Background())
	const readers = 40
	var wg sync.WaitGroup
	errs := make(chan string, readers)
	for i := range readers {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * time.Millisecond) // arrivals spread over two calls or so
			arrived := time.Now()
			v, err := get(t, c, "dc2")
			if err != nil {
				errs <- err.Error()
				return
			}
			s.mu.Lock()
			started := s.starts[v-1]
			s.mu.Unlock()
			if started.Before(arrived) {
				errs <- "answered by a call that started before the read arrived"
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if n := s.calls.Load(); n >= readers/2 || n < 2 {
		t.Fatalf("%d calls for %d reads", n, readers)
	}
	if c.remote.inFlight() != 0 || c.Len() != 0 {
		t.Fatalf("left %d keys in flight, %d entries", c.remote.inFlight(), c.Len())
	}

	// A failure reaches every read that shared the call.
	s.fail.Store(true)
	var failed atomic.Int64
	for range 10 {
		wg.Go(func() {
			if _, err := get(t, c, "dc2"); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 10 {
		t.Fatalf("%d of 10 reads failed while the remote failed", failed.Load())
	}
}

// One read giving up does not fail the others sharing its call.
func TestRemoteSharedCallOutlivesItsStarter(t *testing.T) {
	s := &slowRemote{}
	c := newTestCache(t, s.RPC, func(c *Config) { c.RefreshWait = time.Second })
	defer c.Shutdown(context.Background())
	args := func() *structs.ServiceSpecificRequest {
		return &structs.ServiceSpecificRequest{Datacenter: "dc2", ServiceName: "web", QueryOptions: structs.QueryOptions{AllowStale: true}}
	}
	read := func(ctx context.Context, out chan<- error) {
		var reply structs.IndexedCheckServiceNodes
		out <- c.RPC(ctx, structs.MethodHealthServiceNodes, args(), &reply)
	}
	first, second, third := make(chan error, 1), make(chan error, 1), make(chan error, 1)
	go read(context.Background(), first) // the call in flight
	time.Sleep(5 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	go read(ctx, second) // starts the next call once the first ends
	time.Sleep(2 * time.Millisecond)
	go read(context.Background(), third) // shares the second's call
	time.Sleep(2 * time.Millisecond)
	cancel()
	for _, ch := range []chan error{first, third} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatalf("a read sharing the call of one that gave up failed: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a read hung")
		}
	}
	<-second
	if n := s.calls.Load(); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}
}
