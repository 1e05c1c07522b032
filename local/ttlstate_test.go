package local

import (
	"testing"
	"time"

	"consulate/structs"
)

func TestTTLStatusSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1_000_000, 0)
	cfg := testConfig()
	cfg.DataDir = dir
	cfg.Now = func() time.Time { return now }
	f := newFakeCatalog()
	s, err := New(cfg, f.RPC)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddCheck(&structs.HealthCheck{Name: "app"}, &structs.CheckType{TTL: time.Minute}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateTTLCheck("app", structs.HealthPassing, "all good"); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(bg); err != nil {
		t.Fatal(err)
	}

	// Within the TTL: the last report is back.
	s2 := newTestState(t, cfg, f)
	if c := s2.Check("app"); c == nil || c.Status != structs.HealthPassing || c.Output != "all good" {
		t.Fatalf("restored %+v", c)
	}
	s2.Shutdown(bg)

	// After the TTL: the initial status, and the saved state is gone.
	now = now.Add(2 * time.Minute)
	s3 := newTestState(t, cfg, f)
	if c := s3.Check("app"); c == nil || c.Status != structs.HealthCritical {
		t.Fatalf("expired state restored: %+v", c)
	}
	if err := s3.RemoveCheck("app", true); err != nil {
		t.Fatal(err)
	}
}

func TestLocalScriptChecksOnlyFromConfig(t *testing.T) {
	cfg := testConfig()
	cfg.EnableLocalScriptChecks = true
	s := newTestState(t, cfg, newFakeCatalog())
	script := &structs.CheckType{Name: "disk", Args: []string{"/bin/true"}, Interval: time.Hour}
	if err := s.AddCheck(&structs.HealthCheck{Name: "disk"}, script, false); err == nil {
		t.Fatal("an API-registered script check ran with only enable_local_script_checks")
	}
	if err := s.ReplaceConfigServices(nil, []*structs.CheckType{{CheckID: "disk", Name: "disk", Args: []string{"/bin/true"}, Interval: time.Hour}}); err != nil {
		t.Fatalf("config script check refused: %v", err)
	}
	if s.Check("disk") == nil {
		t.Fatal("config script check missing")
	}
}

func TestReRegistrationKeepsChecksUnlessReplacing(t *testing.T) {
	s := newTestState(t, testConfig(), newFakeCatalog())
	two := []*structs.CheckType{{CheckID: "a", Name: "a", TTL: time.Minute}, {CheckID: "b", Name: "b", TTL: time.Minute}}
	if err := s.AddService(web(), two, false, SourceAPI); err != nil {
		t.Fatal(err)
	}
	if n := len(s.ServiceChecks("web")); n != 2 {
		t.Fatalf("%d checks", n)
	}
	one := []*structs.CheckType{{CheckID: "a", Name: "a", TTL: time.Minute}}
	if err := s.AddServiceKeepChecks(web(), one, false, SourceAPI); err != nil {
		t.Fatal(err)
	}
	if n := len(s.ServiceChecks("web")); n != 2 {
		t.Fatalf("without replace: %d checks, want 2", n)
	}
	if err := s.AddService(web(), one, false, SourceAPI); err != nil {
		t.Fatal(err)
	}
	if n := len(s.ServiceChecks("web")); n != 1 {
		t.Fatalf("with replace: %d checks, want 1", n)
	}
}

func TestUnloadablePersistedCheckIsDropped(t *testing.T) {
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	cfg.EnableScriptChecks = true
	f := newFakeCatalog()
	s, err := New(cfg, f.RPC)
	if err != nil {
		t.Fatal(err)
	}
	script := &structs.CheckType{Name: "disk", Args: []string{"/bin/true"}, Interval: time.Hour}
	if err := s.AddCheck(&structs.HealthCheck{Name: "disk"}, script, true); err != nil {
		t.Fatal(err)
	}
	s.Shutdown(bg)
	cfg.EnableScriptChecks = false
	s2, err := New(cfg, f.RPC)
	if err != nil {
		t.Fatalf("agent state would not start: %v", err)
	}
	defer s2.Shutdown(bg)
	if s2.Check("disk") != nil {
		t.Fatal("script check restored with script checks off")
	}
}
