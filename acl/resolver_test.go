package acl

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
)

// fakeServers answers ACL.Resolve from a table of tokens, counting calls;
// fail makes every call fail with that error; gate, when set, holds calls
// until closed.
type fakeServers struct {
	mu       sync.Mutex
	tokens   map[string]*structs.ACLResolveResponse
	fail     error
	gate     chan struct{}
	calls    atomic.Int32
	lastSeen string
}

func (f *fakeServers) rpc(ctx context.Context, method structs.Method, args, reply any) error {
	f.calls.Add(1)
	if method != structs.MethodACLResolve {
		return structs.ErrUnknownMethod
	}
	f.mu.Lock()
	gate, fail := f.gate, f.fail
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		return fail
	}
	req := args.(*structs.ACLResolveRequest)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastSeen = req.Token
	if r := f.tokens[req.SecretID]; r != nil {
		*reply.(*structs.ACLResolveResponse) = *r
	}
	return nil
}

func (f *fakeServers) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

// clock is a settable time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

const (
	kvPolicyID  = "11111111-0000-0000-0000-000000000001"
	svcPolicyID = "11111111-0000-0000-0000-000000000002"
	dc2PolicyID = "11111111-0000-0000-0000-000000000003"
	roleID      = "22222222-0000-0000-0000-000000000001"
)

func newFake(now time.Time) *fakeServers {
	kv := &structs.ACLPolicy{ID: kvPolicyID, Name: "kv", Rules: `key_prefix "app/" { policy = "write" }`}
	svc := &structs.ACLPolicy{ID: svcPolicyID, Name: "svc", Rules: `service "db" { policy = "read" }`}
	dc2 := &structs.ACLPolicy{ID: dc2PolicyID, Name: "dc2", Rules: `operator = "write"`, Datacenters: []string{"dc2"}}
	role := &structs.ACLRole{ID: roleID, Name: "r", Policies: []*structs.ACLLink{{ID: svcPolicyID}},
		NodeIdentities: []*structs.ACLNodeIdentity{{NodeName: "n9", Datacenter: "dc1"}}}
	past := now.Add(-time.Second)
	future := now.Add(10 * time.Second)
	return &fakeServers{tokens: map[string]*structs.ACLResolveResponse{
		"anonymous": {Token: &structs.ACLToken{AccessorID: structs.ACLTokenAnonymousID, SecretID: "anonymous"}},
		"kv": {Token: &structs.ACLToken{AccessorID: "a-kv", SecretID: "kv", Policies: []*structs.ACLLink{{ID: kvPolicyID}, {ID: dc2PolicyID}}},
			Policies: []*structs.ACLPolicy{kv, dc2}},
		"byname": {Token: &structs.ACLToken{AccessorID: "a-n", SecretID: "byname", Policies: []*structs.ACLLink{{Name: "kv"}}},
			Policies: []*structs.ACLPolicy{kv}},
		"role": {Token: &structs.ACLToken{AccessorID: "a-r", SecretID: "role", Roles: []*structs.ACLLink{{ID: roleID}}},
			Policies: []*structs.ACLPolicy{svc}, Roles: []*structs.ACLRole{role}},
		"svcid": {Token: &structs.ACLToken{AccessorID: "a-s", SecretID: "svcid",
			ServiceIdentities: []*structs.ACLServiceIdentity{{ServiceName: "web"}}}},
		"mgmt": {Token: &structs.ACLToken{AccessorID: "a-m", SecretID: "mgmt",
			Policies: []*structs.ACLLink{{ID: structs.ACLPolicyGlobalManagementID, Name: structs.ACLPolicyGlobalManagementName}}}},
		"expired": {Token: &structs.ACLToken{AccessorID: "a-e", SecretID: "expired", ExpirationTime: &past}},
		"soon":    {Token: &structs.ACLToken{AccessorID: "a-soon", SecretID: "soon", ExpirationTime: &future}},
		"bad": {Token: &structs.ACLToken{AccessorID: "a-b", SecretID: "bad", Policies: []*structs.ACLLink{{ID: "p-bad"}}},
			Policies: []*structs.ACLPolicy{{ID: "p-bad", Name: "bad", Rules: `key "x" { policy = "bogus" }`}}},
	}}
}

func newTestResolver(t *testing.T, f *fakeServers, clk *clock, mod func(*ResolverConfig)) *Resolver {
	t.Helper()
	cfg := ResolverConfig{
		RPC: f.rpc, Datacenter: "dc1", NodeName: "n1", DefaultPolicy: "deny", DownPolicy: DownExtendCache,
		TokenTTL: 30 * time.Second, PolicyTTL: 30 * time.Second, RoleTTL: 30 * time.Second,
		IsAgentRecoveryToken: func(s string) bool { return s == "recovery" }, Now: clk.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	r, err := NewResolver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Wait)
	return r
}

type rcheck struct {
	res    Resource
	name   string
	access Access
	want   bool
}

func TestResolverAuthorizers(t *testing.T) {
	clk := &clock{now: time.Unix(1_000_000, 0)}
	f := newFake(clk.Now())
	tests := []struct {
		secret   string
		accessor string
		err      error
		checks   []rcheck
	}{
		{secret: "", accessor: structs.ACLTokenAnonymousID, checks: []rcheck{
			{ResourceKey, "app/x", AccessRead, false}, {ResourceNode, "n1", AccessRead, false}}},
		{secret: "kv", accessor: "a-kv", checks: []rcheck{
			{ResourceKey, "app/x", AccessWrite, true}, {ResourceKey, "other", AccessRead, false},
			{ResourceOperator, "", AccessWrite, false}}}, // dc2-only policy
		{secret: "byname", accessor: "a-n", checks: []rcheck{{ResourceKey, "app/y", AccessWrite, true}}},
		{secret: "role", accessor: "a-r", checks: []rcheck{
			{ResourceService, "db", AccessRead, true}, {ResourceService, "db", AccessWrite, false},
			{ResourceNode, "n9", AccessWrite, true}, {ResourceService, "any", AccessRead, true}}},
		{secret: "svcid", accessor: "a-s", checks: []rcheck{
			{ResourceService, "web", AccessWrite, true}, {ResourceService, "web-sidecar-proxy", AccessWrite, true},
			{ResourceService, "db", AccessRead, true}, {ResourceService, "db", AccessWrite, false},
			{ResourceNode, "n2", AccessRead, true}, {ResourceKey, "k", AccessRead, false}}},
		{secret: "mgmt", accessor: "a-m", checks: []rcheck{
			{ResourceACL, "", AccessWrite, true}, {ResourceKey, "k", AccessWrite, true}}},
		{secret: "recovery", accessor: RecoveryAccessorID, checks: []rcheck{
			{ResourceAgent, "n1", AccessWrite, true}, {ResourceAgent, "n2", AccessRead, false},
			{ResourceNode, "n2", AccessRead, true}, {ResourceNode, "n2", AccessWrite, false},
			{ResourceKey, "k", AccessRead, false}}},
		{secret: "nope", err: structs.ErrACLNotFound},
		{secret: "expired", err: structs.ErrACLNotFound},
		{secret: "bad", err: ErrInvalidRules},
	}
	r := newTestResolver(t, f, clk, nil)
	for _, tt := range tests {
		t.Run(fmt.Sprintf("secret=%q", tt.secret), func(t *testing.T) {
			authz, tok, err := r.Resolve(context.Background(), tt.secret)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok == nil || tok.AccessorID != tt.accessor {
				t.Fatalf("token = %+v, want accessor %s", tok, tt.accessor)
			}
			for _, c := range tt.checks {
				if got := authz.Allow(c.res, c.name, c.access); got != c.want {
					t.Errorf("%s:%s on %q = %v, want %v", c.res, c.access, c.name, got, c.want)
				}
			}
		})
	}
}

func TestResolverDefaultAllowUnderneath(t *testing.T) {
	clk := &clock{now: time.Unix(1_000_000, 0)}
	f := newFake(clk.Now())
	r := newTestResolver(t, f, clk, func(c *ResolverConfig) { c.DefaultPolicy = "allow" })
	authz, _, err := r.Resolve(context.Background(), "svcid")
	if err != nil {
		t.Fatal(err)
	}
	if !authz.Allow(ResourceKey, "k", AccessWrite) || authz.Allow(ResourceACL, "", AccessRead) {
		t.Fatal("default allow should grant key write but not acl read")
	}
}

func TestResolverCachesForTTL(t *testing.T) {
	clk := &clock{now: time.Unix(1_000_000, 0)}
	f := newFake(clk.Now())
	r := newTestResolver(t, f, clk, func(c *ResolverConfig) { c.PolicyTTL = 10 * time.Second })
	ctx := context.Background()
	for range 3 {
		if _, _, err := r.Resolve(ctx, "kv"); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("calls = %d, want 1 (cached)", n)
	}
	if f.lastSeen != "kv" {
		t.Fatalf("request token = %q, want the secret itself", f.lastSeen)
	}
	clk.add(9 * time.Second)
	r.Resolve(ctx, "kv")
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("calls = %d before the shortest TTL, want 1", n)
	}
	clk.add(2 * time.Second)
	r.Resolve(ctx, "kv")
	if n := f.calls.Load(); n != 2 {
		t.Fatalf("calls = %d after the TTL, want 2", n)
	}
	// Unknown secrets are asked each time; the recovery token never.
	r.Resolve(ctx, "nope")
	r.Resolve(ctx, "nope")
	r.Resolve(ctx, "recovery")
	if n := f.calls.Load(); n != 4 {
		t.Fatalf("calls = %d, want 4", n)
	}
}

func TestResolverTokenExpiryShortensCache(t *testing.T) {
	clk := &clock{now: time.Unix(1_000_000, 0)}
	f := newFake(clk.Now())
	r := newTestResolver(t, f, clk, nil)
	ctx := context.Background()
	if _, _, err := r.Resolve(ctx, "soon"); err != nil {
		t.Fatal(err)
	}
	clk.add(11 * time.Second) // past its ExpirationTime, within the TTL
	if _, _, err := r.Resolve(ctx, "soon"); !errors.Is(err, structs.ErrACLNotFound) {
		t.Fatalf("err = %v, want ACL not found", err)
	}
}

func TestResolverSingleFlight(t *testing.T) {
	clk := &clock{now: time.Unix(1_000_000, 0)}
	f := newFake(clk.Now())
	f.gate = make(chan struct{})
	r := newTestResolver(t, f, clk, nil)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			authz, _, err := r.Resolve(context.Background(), "kv")
			if err == nil && !authz.Allow(ResourceKey, "app/a", AccessWrite) {
				err = errors.New("wrong authorizer")
			}
			errs <- err
		}()
	}
	testutil.WaitFor(t, 5*time.Second, "the first call to arrive", func() bool { return f.calls.Load() >= 1 })
	close(f.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if c := f.calls.Load(); c != 1 {
		t.Fatalf("calls = %d, want 1 shared call", c)
	}
}

func TestResolverCallerCancel(t *testing.T) {
	clk := &clock{now: time.Unix(1_000_000, 0)}
	f := newFake(clk.Now())
	f.gate = make(chan struct{})
	r := newTestResolver(t, f, clk, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := r.Resolve(ctx, "kv"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want canceled", err)
	}
	close(f.gate)
	// The shared call finishes and is cached for the next caller.
	testutil.WaitFor(t, 5*time.Second, "cached", func() bool {
		_, _, err := r.Resolve(context.Background(), "kv")
		return err == nil && f.calls.Load() == 1
	})
}

func TestResolverDownPolicies(t *testing.T) {
	for _, down := range []error{structs.ErrNoLeader, structs.ErrNoServers, structs.ErrUnreachable, structs.ErrNoDCPath} {
		tests := []struct {
			policy string
			warm   bool // resolved once before the servers went away
			// wantKey: may the holder write app/x (kv grants it; allow-all too)
			wantKey  bool
			wantNode bool // node read: only allow-all grants it
		}{
			{DownAllow, false, true, true},
			{DownAllow, true, true, true},
			{DownDeny, false, false, false},
			{DownDeny, true, false, false},
			{DownExtendCache, false, false, false},
			{DownExtendCache, true, true, false},
			{DownAsyncCache, false, false, false},
			{DownAsyncCache, true, true, false},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%v/%s/warm=%v", down, tt.policy, tt.warm), func(t *testing.T) {
				clk := &clock{now: time.Unix(1_000_000, 0)}
				f := newFake(clk.Now())
				r := newTestResolver(t, f, clk, func(c *ResolverConfig) { c.DownPolicy = tt.policy })
				ctx := context.Background()
				if tt.warm {
					if _, _, err := r.Resolve(ctx, "kv"); err != nil {
						t.Fatal(err)
					}
				}
				clk.add(time.Minute) // the cached entry is stale
				f.setFail(fmt.Errorf("rpc: %w", down))
				authz, _, err := r.Resolve(ctx, "kv")
				if err != nil {
					t.Fatal(err)
				}
				r.Wait()
				if got := authz.Allow(ResourceKey, "app/x", AccessWrite); got != tt.wantKey {
					t.Errorf("key write = %v, want %v", got, tt.wantKey)
				}
				if got := authz.Allow(ResourceNode, "n1", AccessRead); got != tt.wantNode {
					t.Errorf("node read = %v, want %v", got, tt.wantNode)
				}
				// The recovery token works whatever the servers do.
				ra, _, err := r.Resolve(ctx, "recovery")
				if err != nil || !ra.Allow(ResourceAgent, "n1", AccessWrite) {
					t.Fatalf("recovery token: %v", err)
				}
			})
		}
	}
}

func TestResolverAsyncCacheRefreshesInBackground(t *testing.T) {
	clk := &clock{now: time.Unix(1_000_000, 0)}
	f := newFake(clk.Now())
	r := newTestResolver(t, f, clk, func(c *ResolverConfig) { c.DownPolicy = DownAsyncCache })
	ctx := context.Background()
	if _, _, err := r.Resolve(ctx, "kv"); err != nil {
		t.Fatal(err)
	}
	// The servers now say kv is gone; the stale answer is served at once,
	// the refresh learns the news.
	f.mu.Lock()
	delete(f.tokens, "kv")
	f.gate = make(chan struct{})
	f.mu.Unlock()
	clk.add(time.Minute)
	authz, _, err := r.Resolve(ctx, "kv")
	if err != nil || !authz.Allow(ResourceKey, "app/x", AccessWrite) {
		t.Fatalf("stale answer not served: %v", err)
	}
	r.Resolve(ctx, "kv") // does not start a second refresh
	close(f.gate)
	r.Wait()
	if c := f.calls.Load(); c != 2 {
		t.Fatalf("calls = %d, want 2", c)
	}
	if _, _, err := r.Resolve(ctx, "kv"); !errors.Is(err, structs.ErrACLNotFound) {
		t.Fatalf("err = %v, want ACL not found after the refresh", err)
	}
}

func TestResolverBoundedCache(t *testing.T) {
	clk := &clock{now: time.Unix(1_000_000, 0)}
	f := newFake(clk.Now())
	for i := range 10 {
		s := fmt.Sprintf("t%d", i)
		f.tokens[s] = &structs.ACLResolveResponse{Token: &structs.ACLToken{AccessorID: s, SecretID: s}}
	}
	r := newTestResolver(t, f, clk, func(c *ResolverConfig) { c.MaxEntries = 4 })
	for i := range 10 {
		if _, _, err := r.Resolve(context.Background(), fmt.Sprintf("t%d", i)); err != nil {
			t.Fatal(err)
		}
		clk.add(time.Millisecond)
	}
	r.mu.Lock()
	n := len(r.cache)
	_, newest := r.cache["t9"]
	r.mu.Unlock()
	if n != 4 || !newest {
		t.Fatalf("cache holds %d entries (newest kept: %v), want 4", n, newest)
	}
}

func TestNewResolverValidates(t *testing.T) {
	rpc := (&fakeServers{}).rpc
	for _, cfg := range []ResolverConfig{
		{},
		{RPC: rpc, DefaultPolicy: "maybe"},
		{RPC: rpc, DownPolicy: "pray"},
	} {
		if _, err := NewResolver(cfg); err == nil {
			t.Errorf("NewResolver(%+v) succeeded", cfg)
		}
	}
}
