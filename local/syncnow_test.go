package local

import (
	"context"
	"errors"
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
)

// Every change SyncNow follows is in the catalog when it returns, with
// the background loop too slow to have sent it: an agent endpoint that
// answers after SyncNow lets its client read its own write.
func TestSyncNowReadYourWrites(t *testing.T) {
	f := newFakeCatalog()
	cfg := testConfig()
	cfg.SyncCoalesce = time.Hour // the loop's partial syncs never run
	cfg.CheckUpdateInterval = time.Hour
	s := newTestState(t, cfg, f)
	s.Start(bg)
	testutil.WaitFor(t, 5*time.Second, "first full sync", func() bool { return f.count(structs.MethodCatalogNodeServices) > 0 })

	now := func(what string) {
		t.Helper()
		if err := s.SyncNow(bg); err != nil {
			t.Fatalf("%s: SyncNow: %v", what, err)
		}
	}
	if err := s.AddService(web(), []*structs.CheckType{{CheckID: "web-ttl", TTL: time.Hour}}, false, ""); err != nil {
		t.Fatal(err)
	}
	now("register")
	if f.service("web") == nil || f.check("web-ttl") == nil || f.check("web-ttl").Status != structs.HealthCritical {
		t.Fatalf("after register: service %v check %v", f.service("web"), f.check("web-ttl"))
	}
	if err := s.UpdateTTLCheck("web-ttl", structs.HealthPassing, "ok"); err != nil {
		t.Fatal(err)
	}
	now("ttl pass")
	if c := f.check("web-ttl"); c.Status != structs.HealthPassing || c.Output != "ok" {
		t.Fatalf("after pass: %+v", c)
	}
	// Output-only: deferred by CheckUpdateInterval, as in Consul.
	if err := s.UpdateTTLCheck("web-ttl", structs.HealthPassing, "still ok"); err != nil {
		t.Fatal(err)
	}
	now("output only")
	if c := f.check("web-ttl"); c.Output != "ok" {
		t.Fatalf("output-only update was synced at once: %+v", c)
	}
	if err := s.EnableServiceMaintenance("web", "", ""); err != nil {
		t.Fatal(err)
	}
	now("maintenance on")
	if c := f.check(ServiceMaintCheckID("web")); c == nil || c.Status != structs.HealthCritical {
		t.Fatalf("maintenance check: %+v", c)
	}
	if err := s.EnableNodeMaintenance("down", ""); err != nil {
		t.Fatal(err)
	}
	now("node maintenance on")
	if f.check(structs.NodeMaintCheckID) == nil {
		t.Fatal("node maintenance check not synced")
	}
	if err := s.DisableNodeMaintenance(); err != nil {
		t.Fatal(err)
	}
	now("node maintenance off")
	if f.check(structs.NodeMaintCheckID) != nil {
		t.Fatal("node maintenance check still in the catalog")
	}
	if err := s.RemoveService("web", false); err != nil {
		t.Fatal(err)
	}
	now("deregister")
	if f.service("web") != nil || f.check("web-ttl") != nil {
		t.Fatal("service still in the catalog after deregistration")
	}
}

// With no server to talk to, SyncNow fails at once, the change stays
// local, and anti-entropy sends it when a server answers again.
func TestSyncNowNoServerThenAntiEntropy(t *testing.T) {
	f := newFakeCatalog()
	s := newTestState(t, testConfig(), f)
	s.Start(bg)
	testutil.WaitFor(t, 5*time.Second, "first full sync", func() bool { return f.count(structs.MethodCatalogNodeServices) > 0 })
	f.setFail(structs.ErrNoServers)
	if err := s.AddService(web(), nil, false, ""); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := s.SyncNow(bg)
	if !errors.Is(err, structs.ErrNoServers) {
		t.Fatalf("SyncNow with no servers: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("SyncNow took %v with no servers", d)
	}
	if s.Service("web") == nil {
		t.Fatal("change lost locally")
	}
	f.setFail(nil)
	testutil.WaitFor(t, 5*time.Second, "anti-entropy to send the change", func() bool { return f.service("web") != nil })
}

// A sync stuck on a server that went silent holds the sync lock; SyncNow
// gives up after SyncNowTimeout instead of waiting behind it, and the
// change is sent once the server answers.
func TestSyncNowBoundedBehindStuckSync(t *testing.T) {
	f := newFakeCatalog()
	cfg := testConfig()
	cfg.SyncNowTimeout = 200 * time.Millisecond
	s := newTestState(t, cfg, f)
	release := f.setHold()
	t.Cleanup(release)
	s.Start(bg) // the first full sync hangs in its first call
	testutil.WaitFor(t, 5*time.Second, "stuck full sync", func() bool { return len(s.syncSem) == 1 })
	if err := s.AddService(web(), nil, false, ""); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- s.SyncNow(bg) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("SyncNow reported success while every call hangs")
		}
		if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
			t.Fatalf("SyncNow returned after %v, want about 200ms", d)
		}
	case <-time.After(3 * time.Second):
		release()
		t.Fatal("SyncNow waited for the stuck sync past its bound")
	}
	release()
	testutil.WaitFor(t, 5*time.Second, "the change to reach the catalog", func() bool { return f.service("web") != nil })
}

// A caller's own deadline, shorter than SyncNowTimeout, also bounds
// SyncNow, and a shut-down State says so at once.
func TestSyncNowHonoursContextAndShutdown(t *testing.T) {
	f := newFakeCatalog()
	s := newTestState(t, testConfig(), f) // SyncNowTimeout: the 5s default
	release := f.setHold()
	t.Cleanup(release)
	s.Start(bg)
	testutil.WaitFor(t, 5*time.Second, "stuck full sync", func() bool { return len(s.syncSem) == 1 })
	ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.SyncNow(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("SyncNow past the caller's deadline: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("SyncNow took %v with a 100ms deadline", d)
	}
	release()
	if err := s.Shutdown(bg); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncNow(bg); !errors.Is(err, ErrShutdown) {
		t.Fatalf("SyncNow after shutdown: %v", err)
	}
}
