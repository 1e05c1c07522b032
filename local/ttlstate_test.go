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
