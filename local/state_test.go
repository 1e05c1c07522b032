package local

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
)

var bg = context.Background()

func web() *structs.NodeService {
	return &structs.NodeService{Service: "web", Tags: []string{"v1"}, Port: 80}
}

func TestSyncRegistersNodeServiceAndChecks(t *testing.T) {
	f := newFakeCatalog()
	s := newTestState(t, testConfig(), f)
	err := s.AddService(web(), []*structs.CheckType{{TTL: time.Minute}, {TTL: time.Minute, Status: "passing"}}, false, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SyncFull(bg); err != nil {
		t.Fatal(err)
	}
	svc := f.service("web")
	if svc == nil || svc.Service != "web" || svc.Port != 80 {
		t.Fatalf("catalog service %+v", svc)
	}
	c1, c2 := f.check("service:web:1"), f.check("service:web:2")
	if c1 == nil || c2 == nil {
		t.Fatalf("checks missing: %+v %+v", c1, c2)
	}
	if c1.Status != "critical" || c2.Status != "passing" || c1.Name != "Service 'web' check" ||
		c1.ServiceName != "web" || c1.Node != "node1" || c1.Type != "ttl" {
		t.Fatalf("check fields %+v / %+v", c1, c2)
	}
	f.mu.Lock()
	n := *f.node
	f.mu.Unlock()
	if n.ID != testConfig().NodeID || n.Address != "127.0.0.11" || n.Meta["rack"] != "r1" || n.TaggedAddresses["lan"] != "127.0.0.11" {
		t.Fatalf("node %+v", n)
	}
	// A single check is named service:<id>.
	if err := s.AddService(&structs.NodeService{ID: "db1", Service: "db"}, []*structs.CheckType{{TTL: time.Minute}}, false, ""); err != nil {
		t.Fatal(err)
	}
	if s.Check("service:db1") == nil {
		t.Fatal("single check not named service:db1")
	}
	// Nothing changed since: a full sync resends nothing.
	if err := s.SyncFull(bg); err != nil {
		t.Fatal(err)
	}
	before := f.count(structs.MethodCatalogRegister)
	if err := s.SyncFull(bg); err != nil {
		t.Fatal(err)
	}
	if got := f.count(structs.MethodCatalogRegister); got != before {
		t.Fatalf("in-sync items resent: %d registers", got-before)
	}
}

func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(s *State) error
		want []error // every one must match with errors.Is
	}{
		{"service without name", func(s *State) error {
			return s.AddService(&structs.NodeService{ID: "x"}, nil, false, "")
		}, []error{ErrInvalidService}},
		{"kindless check", func(s *State) error {
			return s.AddService(web(), []*structs.CheckType{{Name: "nothing"}}, false, "")
		}, []error{ErrInvalidCheck}},
		{"check for unknown service", func(s *State) error {
			return s.AddCheck(&structs.HealthCheck{Name: "c", ServiceID: "nope"}, &structs.CheckType{TTL: time.Second}, false)
		}, []error{ErrInvalidCheck}},
		{"remove unknown service", func(s *State) error {
			return s.RemoveService("nope", false)
		}, []error{ErrUnknownService, structs.ErrNotFound}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestState(t, testConfig(), newFakeCatalog())
			err := tc.do(s)
			for _, want := range tc.want {
				if !errors.Is(err, want) {
					t.Fatalf("err = %v, want %v", err, want)
				}
			}
			// Refused input is a bad request and leaves nothing behind.
			var bad *structs.BadRequestError
			if errors.Is(err, ErrInvalidService) || errors.Is(err, ErrInvalidCheck) {
				if !errors.As(err, &bad) {
					t.Fatalf("%v is not a BadRequestError", err)
				}
			}
			if len(s.Services()) != 0 || len(s.Checks()) != 0 {
				t.Fatalf("refused input left state: %v %v", s.Services(), s.Checks())
			}
		})
	}
	if _, err := New(Config{}, newFakeCatalog().RPC); err == nil {
		t.Fatal("config without node name accepted")
	}
}

func TestDriftCorrectedBothWays(t *testing.T) {
	f := newFakeCatalog()
	s := newTestState(t, testConfig(), f)
	if err := s.AddService(web(), []*structs.CheckType{{TTL: time.Minute}}, false, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCheck(&structs.HealthCheck{Name: "mem"}, &structs.CheckType{TTL: time.Minute}, false); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncFull(bg); err != nil {
		t.Fatal(err)
	}
	// Someone else changes the catalog behind the agent's back.
	f.mu.Lock()
	delete(f.services, "web")
	delete(f.checks, "service:web")
	f.checks["mem"].Status = "passing"
	f.services["rogue"] = &structs.NodeService{ID: "rogue", Service: "rogue"}
	f.checks["rogue-check"] = &structs.HealthCheck{Node: "node1", CheckID: "rogue-check", Status: "passing"}
	f.checks[structs.SerfCheckID] = &structs.HealthCheck{Node: "node1", CheckID: structs.SerfCheckID, Status: "passing"}
	f.node.Address = "10.0.0.1"
	f.mu.Unlock()

	if err := s.SyncFull(bg); err != nil {
		t.Fatal(err)
	}
	if f.service("web") == nil || f.check("service:web") == nil {
		t.Fatal("local service not restored to the catalog")
	}
	if c := f.check("mem"); c == nil || c.Status != "critical" {
		t.Fatalf("changed check not corrected: %+v", c)
	}
	if f.service("rogue") != nil || f.check("rogue-check") != nil {
		t.Fatal("catalog-only service/check not deregistered")
	}
	if f.check(structs.SerfCheckID) == nil {
		t.Fatal("serfHealth was removed; the leader owns it")
	}
	f.mu.Lock()
	addr := f.node.Address
	f.mu.Unlock()
	if addr != "127.0.0.11" {
		t.Fatalf("node address not corrected: %s", addr)
	}
	// Local removal reaches the catalog.
	if err := s.RemoveService("web", false); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveCheck("mem", false); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncChanges(bg); err != nil {
		t.Fatal(err)
	}
	if f.service("web") != nil || f.check("service:web") != nil || f.check("mem") != nil {
		t.Fatal("local removals not synced")
	}
	if s.Service("web") != nil || len(s.Checks()) != 0 {
		t.Fatalf("removed items still visible: %v", s.Checks())
	}
}

func TestNodeReregisteredWhenMissing(t *testing.T) {
	f := newFakeCatalog()
	s := newTestState(t, testConfig(), f)
	if err := s.SyncFull(bg); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	ok := f.node != nil
	f.node = nil
	f.mu.Unlock()
	if !ok {
		t.Fatal("node not registered by the first full sync")
	}
	if err := s.SyncFull(bg); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.node == nil || f.node.ID != testConfig().NodeID {
		t.Fatalf("node not re-registered: %+v", f.node)
	}
}

func TestLoopPropagatesHTTPCheckStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello"))
	}))
	defer srv.Close()
	f := newFakeCatalog()
	s := newTestState(t, testConfig(), f)
	s.Start(bg)
	err := s.AddService(web(), []*structs.CheckType{{HTTP: srv.URL, Interval: 20 * time.Millisecond}}, false, "")
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "passing in catalog", func() bool {
		c := f.check("service:web")
		return c != nil && c.Status == "passing"
	})
	if out := f.check("service:web").Output; out != "HTTP GET "+srv.URL+": 200 OK Output: hello" {
		t.Fatalf("output %q", out)
	}
	srv.Close()
	testutil.WaitFor(t, 5*time.Second, "critical in catalog", func() bool {
		c := f.check("service:web")
		return c != nil && c.Status == "critical"
	})
	if s.Check("service:web").Status != "critical" {
		t.Fatal("local state disagrees with catalog")
	}
}

func TestTTLCheck(t *testing.T) {
	f := newFakeCatalog()
	s := newTestState(t, testConfig(), f)
	s.Start(bg)
	if err := s.AddCheck(&structs.HealthCheck{CheckID: "ttl", Name: "ttl"}, &structs.CheckType{TTL: 150 * time.Millisecond}, false); err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{"passing", "warning", "critical", "passing"} {
		if err := s.UpdateTTLCheck("ttl", st, "out-"+st); err != nil {
			t.Fatal(err)
		}
		if c := s.Check("ttl"); c.Status != st || c.Output != "out-"+st {
			t.Fatalf("after %s: %+v", st, c)
		}
		testutil.WaitFor(t, 5*time.Second, st+" in catalog", func() bool {
			c := f.check("ttl")
			return c != nil && c.Status == st
		})
	}
	testutil.WaitFor(t, 5*time.Second, "TTL expiry", func() bool { return s.Check("ttl").Status == "critical" })
	if out := s.Check("ttl").Output; !strings.HasPrefix(out, "TTL expired") || !strings.Contains(out, "out-passing") {
		t.Fatalf("expiry output %q", out)
	}
	if err := s.UpdateTTLCheck("ttl", "passing", strings.Repeat("z", 10000)); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Check("ttl").Output); n > 4200 {
		t.Fatalf("output not bounded: %d", n)
	}
	if err := s.UpdateTTLCheck("nope", "passing", ""); !errors.Is(err, ErrUnknownCheck) {
		t.Fatalf("unknown: %v", err)
	}
	if err := s.UpdateTTLCheck("ttl", "bogus", ""); !errors.Is(err, ErrInvalidCheck) {
		t.Fatalf("bad status: %v", err)
	}
	if err := s.AddCheck(&structs.HealthCheck{Name: "tcp"}, &structs.CheckType{TCP: "127.0.0.1:1", Interval: time.Hour}, false); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateTTLCheck("tcp", "passing", ""); !errors.Is(err, ErrNotTTL) {
		t.Fatalf("not ttl: %v", err)
	}
	if ct := s.CheckDefinition("ttl"); ct == nil || ct.TTL != 150*time.Millisecond {
		t.Fatalf("definition %+v", ct)
	}
}

func TestOutputOnlyChangesDeferred(t *testing.T) {
	f := newFakeCatalog()
	cfg := testConfig()
	cfg.CheckUpdateInterval = 150 * time.Millisecond
	s := newTestState(t, cfg, f)
	if err := s.AddCheck(&structs.HealthCheck{Name: "ttl"}, &structs.CheckType{TTL: time.Hour}, false); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateTTLCheck("ttl", "passing", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncChanges(bg); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateTTLCheck("ttl", "passing", "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncChanges(bg); err != nil {
		t.Fatal(err)
	}
	if got := f.check("ttl").Output; got != "a" {
		t.Fatalf("output-only change synced at once: %q", got)
	}
	if s.Check("ttl").Output != "b" {
		t.Fatal("local output not updated")
	}
	testutil.WaitFor(t, 5*time.Second, "deferred output sync", func() bool {
		s.SyncChanges(bg)
		return f.check("ttl").Output == "b"
	})
	// A status change goes at once.
	if err := s.UpdateTTLCheck("ttl", "warning", "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncChanges(bg); err != nil {
		t.Fatal(err)
	}
	if f.check("ttl").Status != "warning" {
		t.Fatal("status change not synced at once")
	}
}

func TestScriptChecksRefusedUnlessEnabled(t *testing.T) {
	s := newTestState(t, testConfig(), newFakeCatalog())
	err := s.AddService(web(), []*structs.CheckType{{Args: []string{"true"}, Interval: time.Second}}, false, "")
	if !errors.Is(err, ErrInvalidCheck) || !strings.Contains(err.Error(), "script checks are disabled") {
		t.Fatalf("err = %v", err)
	}
	cfg := testConfig()
	cfg.EnableScriptChecks = true
	s2 := newTestState(t, cfg, newFakeCatalog())
	s2.Start(bg)
	if err := s2.AddService(web(), []*structs.CheckType{{Args: []string{"/bin/sh", "-c", "echo hi; exit 1"}, Interval: 20 * time.Millisecond}}, false, ""); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "script warning", func() bool {
		c := s2.Check("service:web")
		return c.Status == "warning" && c.Output == "hi\n"
	})
}

func TestMaintenance(t *testing.T) {
	f := newFakeCatalog()
	s := newTestState(t, testConfig(), f)
	if err := s.EnableServiceMaintenance("nope", "", ""); !errors.Is(err, ErrUnknownService) {
		t.Fatalf("unknown: %v", err)
	}
	if err := s.AddService(web(), nil, false, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.EnableServiceMaintenance("web", "", ""); err != nil {
		t.Fatal(err)
	}
	c := s.Check("_service_maintenance:web")
	if c == nil || c.Status != "critical" || c.Notes != DefaultServiceMaintReason || c.ServiceID != "web" {
		t.Fatalf("maint check %+v", c)
	}
	if err := s.EnableNodeMaintenance("upgrading", ""); err != nil {
		t.Fatal(err)
	}
	if c := s.Check("_node_maintenance"); c == nil || c.Notes != "upgrading" || c.Status != "critical" {
		t.Fatalf("node maint %+v", c)
	}
	if err := s.SyncChanges(bg); err != nil {
		t.Fatal(err)
	}
	if f.check("_node_maintenance") == nil || f.check("_service_maintenance:web") == nil {
		t.Fatal("maintenance checks not synced")
	}
	// Re-registering the service keeps it in maintenance.
	if err := s.AddService(web(), nil, false, ""); err != nil {
		t.Fatal(err)
	}
	if s.Check("_service_maintenance:web") == nil {
		t.Fatal("re-registration dropped maintenance")
	}
	if err := s.DisableServiceMaintenance("web"); err != nil {
		t.Fatal(err)
	}
	if err := s.DisableNodeMaintenance(); err != nil {
		t.Fatal(err)
	}
	if len(s.Checks()) != 0 {
		t.Fatalf("checks left: %v", s.Checks())
	}
	if err := s.SyncChanges(bg); err != nil {
		t.Fatal(err)
	}
	if f.check("_node_maintenance") != nil {
		t.Fatal("node maintenance not removed from catalog")
	}
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestDeregisterCriticalServiceAfter(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1000, 0)}
	cfg := testConfig()
	cfg.Now = clock.Now
	f := newFakeCatalog()
	s := newTestState(t, cfg, f)
	s.Start(bg)
	ct := func() []*structs.CheckType {
		return []*structs.CheckType{{TTL: time.Hour, DeregisterCriticalServiceAfter: time.Minute}}
	}
	if err := s.AddService(&structs.NodeService{Service: "doomed"}, ct(), false, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.AddService(&structs.NodeService{Service: "healthy"}, ct(), false, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateTTLCheck("service:healthy", "passing", ""); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "synced", func() bool { return f.service("doomed") != nil && f.service("healthy") != nil })
	clock.Advance(30 * time.Second)
	s.reap() // critical for 30s of its 60s: still too early
	if s.Service("doomed") == nil {
		t.Fatal("reaped before its time")
	}
	clock.Advance(31 * time.Second)
	testutil.WaitFor(t, 5*time.Second, "reaped", func() bool { return s.Service("doomed") == nil })
	testutil.WaitFor(t, 5*time.Second, "deregistered", func() bool { return f.service("doomed") == nil })
	if s.Service("healthy") == nil {
		t.Fatal("passing service reaped")
	}
}

func TestPersistenceRoundTrip(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.DataDir = dir
	f := newFakeCatalog()
	s, err := New(cfg, f.RPC)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddService(web(), []*structs.CheckType{{HTTP: "http://127.0.0.1:1/health", Interval: time.Hour, Name: "web-http"}}, true, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.AddService(&structs.NodeService{Service: "temp"}, nil, false, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.AddService(&structs.NodeService{Service: "gone"}, nil, true, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCheck(&structs.HealthCheck{Name: "disk", Notes: "n"}, &structs.CheckType{TTL: time.Minute}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCheck(&structs.HealthCheck{Name: "web-ttl", ServiceID: "web"}, &structs.CheckType{TTL: time.Minute}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.EnableServiceMaintenance("web", "fixing", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveService("gone", true); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "services"))
	if len(entries) != 1 {
		t.Fatalf("want 1 service file, got %d", len(entries))
	}

	s2 := newTestState(t, cfg, f)
	svcs := s2.Services()
	if len(svcs) != 1 || svcs["web"] == nil || svcs["web"].Tags[0] != "v1" || svcs["web"].Port != 80 {
		t.Fatalf("restored services %v", svcs)
	}
	if c := s2.Check("service:web"); c == nil || c.Name != "web-http" || c.Type != "http" {
		t.Fatalf("restored check %+v", c)
	}
	if ct := s2.CheckDefinition("service:web"); ct == nil || ct.HTTP != "http://127.0.0.1:1/health" || ct.Interval != time.Hour {
		t.Fatalf("restored definition %+v", ct)
	}
	if c := s2.Check("disk"); c == nil || c.Notes != "n" || s2.CheckDefinition("disk").TTL != time.Minute {
		t.Fatalf("restored standalone check %+v", c)
	}
	if c := s2.Check("web-ttl"); c == nil || c.ServiceID != "web" || s2.CheckDefinition("web-ttl").TTL != time.Minute {
		t.Fatalf("restored service-attached check %+v", c)
	}
	if c := s2.Check("_service_maintenance:web"); c == nil || c.Notes != "fixing" {
		t.Fatalf("restored maintenance %+v", c)
	}
	// Removing with persist deletes the files for good.
	if err := s2.RemoveService("web", true); err != nil {
		t.Fatal(err)
	}
	if err := s2.RemoveCheck("disk", true); err != nil {
		t.Fatal(err)
	}
	s3 := newTestState(t, cfg, f)
	if len(s3.Services()) != 0 || len(s3.Checks()) != 0 {
		t.Fatalf("removed items restored: %v %v", s3.Services(), s3.Checks())
	}
}

func TestReplaceConfigServices(t *testing.T) {
	f := newFakeCatalog()
	s := newTestState(t, testConfig(), f)
	s.Start(bg)
	defA := func(tags []string, ttl time.Duration) *structs.ServiceDefinition {
		return &structs.ServiceDefinition{Name: "a", Tags: tags, Check: &structs.CheckType{TTL: ttl}}
	}
	defB := &structs.ServiceDefinition{ID: "b1", Name: "b", Port: 1}
	standalone := &structs.CheckType{Name: "load", TTL: time.Hour}
	if err := s.ReplaceConfigServices([]*structs.ServiceDefinition{defA([]string{"x"}, time.Hour), defB}, []*structs.CheckType{standalone}); err != nil {
		t.Fatal(err)
	}
	if s.Service("a") == nil || s.Service("b1") == nil || s.Check("load") == nil || s.ServiceSource("a") != SourceConfig {
		t.Fatal("config services not added")
	}
	// An API service survives reloads.
	if err := s.AddService(&structs.NodeService{Service: "api"}, nil, false, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCheck(&structs.HealthCheck{Name: "extra", ServiceID: "a"}, &structs.CheckType{TTL: time.Hour}, false); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateTTLCheck("service:a", "passing", "kept"); err != nil {
		t.Fatal(err)
	}
	// Tags change, check unchanged: runner and status kept.
	if err := s.ReplaceConfigServices([]*structs.ServiceDefinition{defA([]string{"y"}, time.Hour), defB}, []*structs.CheckType{standalone}); err != nil {
		t.Fatal(err)
	}
	if got := s.Service("a").Tags; len(got) != 1 || got[0] != "y" {
		t.Fatalf("tags not updated: %v", got)
	}
	if c := s.Check("service:a"); c.Status != "passing" || c.Output != "kept" || c.ServiceTags[0] != "y" {
		t.Fatalf("unchanged check restarted or stale: %+v", c)
	}
	if err := s.UpdateTTLCheck("service:a", "passing", "still"); err != nil {
		t.Fatalf("kept runner no longer answers: %v", err)
	}
	if s.Check("extra") == nil {
		t.Fatal("an API check on a config service was dropped by reload")
	}
	// Check definition changes: restarted from its initial status.
	// b1 and the standalone check go; c comes.
	defC := &structs.ServiceDefinition{Name: "c"}
	if err := s.ReplaceConfigServices([]*structs.ServiceDefinition{defA([]string{"y"}, 2*time.Hour), defC}, nil); err != nil {
		t.Fatal(err)
	}
	if c := s.Check("service:a"); c.Status != "critical" || s.CheckDefinition("service:a").TTL != 2*time.Hour {
		t.Fatalf("changed check not restarted: %+v", c)
	}
	if s.Service("b1") != nil || s.Check("load") != nil || s.Service("c") == nil || s.Service("api") == nil {
		t.Fatalf("diff wrong: %v %v", s.Services(), s.Checks())
	}
	testutil.WaitFor(t, 5*time.Second, "catalog follows", func() bool {
		return f.service("b1") == nil && f.check("load") == nil && f.service("c") != nil && f.service("api") != nil
	})
	// Bad entries are reported; good ones still applied.
	err := s.ReplaceConfigServices([]*structs.ServiceDefinition{defC, {Tags: []string{"noname"}}}, nil)
	if !errors.Is(err, ErrInvalidService) {
		t.Fatalf("err = %v", err)
	}
	if s.Service("c") == nil || s.Service("a") != nil {
		t.Fatal("valid part of reload not applied")
	}
}

func TestSyncFailureBacksOffThenRecovers(t *testing.T) {
	f := newFakeCatalog()
	f.setFail(structs.ErrNoServers)
	cfg := testConfig()
	cfg.SyncRetryInterval = 30 * time.Millisecond
	cfg.SyncInterval = 200 * time.Millisecond
	s := newTestState(t, cfg, f)
	s.Start(bg)
	if err := s.AddService(web(), nil, false, ""); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "a few retries", func() bool { return f.count(structs.MethodCatalogNodeServices) >= 3 })
	start := time.Now()
	n0 := f.count(structs.MethodCatalogNodeServices) + f.count(structs.MethodCatalogRegister)
	// Changes during failure must not cause a storm.
	for i := 0; i < 50; i++ {
		s.EnableNodeMaintenance("", "")
		s.DisableNodeMaintenance()
	}
	testutil.WaitFor(t, 5*time.Second, "time to pass", func() bool { return time.Since(start) > 300*time.Millisecond })
	n1 := f.count(structs.MethodCatalogNodeServices) + f.count(structs.MethodCatalogRegister)
	if n1-n0 > 10 {
		t.Fatalf("%d RPCs in 300ms while failing: spinning", n1-n0)
	}
	f.setFail(nil)
	testutil.WaitFor(t, 5*time.Second, "recovery", func() bool { return f.service("web") != nil })
}

func TestSubscribeAndShutdown(t *testing.T) {
	s := newTestState(t, testConfig(), newFakeCatalog())
	ch, cancel := s.Subscribe()
	defer cancel()
	if err := s.AddService(web(), nil, false, ""); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no change notification")
	}
	s.Start(bg)
	if err := s.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	if err := s.AddService(web(), nil, false, ""); !errors.Is(err, ErrShutdown) {
		t.Fatalf("add after shutdown: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	rpc := func(context.Context, structs.Method, any, any) error { return nil }
	cases := map[string]struct {
		cfg Config
		rpc RPCFunc
	}{
		"no NodeName":           {Config{}, rpc},
		"negative SyncInterval": {Config{NodeName: "n1", SyncInterval: -1}, rpc},
		"no RPC":                {Config{NodeName: "n1"}, nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if s, err := New(tc.cfg, tc.rpc); !errors.Is(err, ErrInvalidConfig) || s != nil {
				t.Fatalf("got %v, want ErrInvalidConfig", err)
			}
		})
	}
}
