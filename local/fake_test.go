package local

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"consulate/structs"
)

// fakeCatalog is a tiny in-memory catalog answering the RPCs State uses.
type fakeCatalog struct {
	mu       sync.Mutex
	node     *structs.Node
	services map[string]*structs.NodeService
	checks   map[string]*structs.HealthCheck
	fail     error
	calls    map[structs.Method]int
	// hold, when set, makes every call wait for it to close, ignoring
	// ctx: a server that accepted the call and went silent.
	hold chan struct{}
}

func newFakeCatalog() *fakeCatalog {
	return &fakeCatalog{
		services: map[string]*structs.NodeService{},
		checks:   map[string]*structs.HealthCheck{},
		calls:    map[structs.Method]int{},
	}
}

func (f *fakeCatalog) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	hold := f.hold
	f.mu.Unlock()
	if hold != nil {
		<-hold
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[method]++
	if f.fail != nil {
		return f.fail
	}
	switch method {
	case structs.MethodCatalogRegister:
		req := args.(*structs.RegisterRequest)
		if req.Node == "" {
			return errors.New("fake: node required")
		}
		if f.node == nil && req.SkipNodeUpdate {
			return errors.New("fake: SkipNodeUpdate for a node the catalog lacks")
		}
		if f.node == nil || !req.SkipNodeUpdate {
			f.node = &structs.Node{ID: req.ID, Node: req.Node, Address: req.Address,
				TaggedAddresses: req.TaggedAddresses, Meta: req.NodeMeta}
		}
		if req.Service != nil {
			f.services[req.Service.ID] = cloneService(req.Service)
		}
		// As the servers: a check's service must be in the catalog.
		for _, c := range append([]*structs.HealthCheck{req.Check}, req.Checks...) {
			if c != nil && c.ServiceID != "" && f.services[c.ServiceID] == nil {
				return fmt.Errorf("fake: check %q: service %q not registered", c.CheckID, c.ServiceID)
			}
		}
		if req.Check != nil {
			f.checks[req.Check.CheckID] = cloneCheck(req.Check)
		}
		for _, c := range req.Checks {
			f.checks[c.CheckID] = cloneCheck(c)
		}
	case structs.MethodCatalogDeregister:
		req := args.(*structs.DeregisterRequest)
		switch {
		case req.ServiceID != "":
			delete(f.services, req.ServiceID)
			for id, c := range f.checks {
				if c.ServiceID == req.ServiceID {
					delete(f.checks, id)
				}
			}
		case req.CheckID != "":
			delete(f.checks, req.CheckID)
		default:
			f.node = nil
			f.services = map[string]*structs.NodeService{}
			f.checks = map[string]*structs.HealthCheck{}
		}
	case structs.MethodCatalogNodeServices:
		out := reply.(*structs.IndexedNodeServices)
		if !args.(*structs.NodeSpecificRequest).AllowStale {
			return errors.New("fake: anti-entropy reads should allow stale")
		}
		out.NodeServices = nil
		if f.node != nil {
			n := *f.node
			ns := &structs.NodeServices{Node: &n, Services: map[string]*structs.NodeService{}}
			for id, s := range f.services {
				ns.Services[id] = cloneService(s)
			}
			out.NodeServices = ns
		}
	case structs.MethodHealthNodeChecks:
		out := reply.(*structs.IndexedHealthChecks)
		out.HealthChecks = nil
		for _, c := range f.checks {
			out.HealthChecks = append(out.HealthChecks, cloneCheck(c))
		}
	default:
		return fmt.Errorf("fake: %w %s", structs.ErrUnknownMethod, method)
	}
	return nil
}

func (f *fakeCatalog) service(id string) *structs.NodeService {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.services[id]; s != nil {
		return cloneService(s)
	}
	return nil
}

func (f *fakeCatalog) check(id string) *structs.HealthCheck {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.checks[id]; c != nil {
		return cloneCheck(c)
	}
	return nil
}

func (f *fakeCatalog) count(method structs.Method) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// setHold makes calls hang until the returned function is called.
func (f *fakeCatalog) setHold() (release func()) {
	ch := make(chan struct{})
	f.mu.Lock()
	f.hold = ch
	f.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			f.hold = nil
			f.mu.Unlock()
			close(ch)
		})
	}
}

func (f *fakeCatalog) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

func testConfig() Config {
	return Config{
		NodeName: "node1", NodeID: "11111111-2222-3333-4444-555555555555",
		Datacenter: "dc1", Address: "127.0.0.11",
		TaggedAddresses: map[string]string{"lan": "127.0.0.11"},
		NodeMeta:        map[string]string{"rack": "r1"},
		SyncInterval:    time.Hour, SyncRetryInterval: 20 * time.Millisecond,
		ReapInterval: 10 * time.Millisecond,
	}
}

func newTestState(t *testing.T, cfg Config, f *fakeCatalog) *State {
	t.Helper()
	return startTestState(t, cfg, f.RPC)
}

// startTestState starts a State over rpc, shut down when the test ends.
func startTestState(t *testing.T, cfg Config, rpc RPCFunc) *State {
	t.Helper()
	s, err := New(cfg, rpc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}
