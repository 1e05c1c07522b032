package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestAutopilotKeys(t *testing.T) {
	rt := aclLoad(t, data("a.json", `{}`))
	want := AutopilotRuntime{LastContactThreshold: 200 * time.Millisecond, MaxTrailingLogs: 250, ServerStabilizationTime: 10 * time.Second}
	if rt.Autopilot != want || !rt.AutopilotCleanupDeadServers || rt.Warnings != nil {
		t.Fatalf("defaults %+v cleanup %v warnings %q", rt.Autopilot, rt.AutopilotCleanupDeadServers, rt.Warnings)
	}
	rt = aclLoad(t, data("ap.hcl", `autopilot {
  cleanup_dead_servers = false
  last_contact_threshold = "1s"
  max_trailing_logs = 10
  min_quorum = 3
  server_stabilization_time = "5s"
  redundancy_zone_tag = "zone"
  disable_upgrade_migration = true
  upgrade_version_tag = "build"
}`))
	want = AutopilotRuntime{LastContactThreshold: time.Second, MaxTrailingLogs: 10, MinQuorum: 3, ServerStabilizationTime: 5 * time.Second,
		RedundancyZoneTag: "zone", DisableUpgradeMigration: true, UpgradeVersionTag: "build"}
	if rt.Autopilot != want || rt.AutopilotCleanupDeadServers {
		t.Fatalf("set %+v cleanup %v", rt.Autopilot, rt.AutopilotCleanupDeadServers)
	}
	wantWarn := []string{
		"ap.hcl: autopilot.redundancy_zone_tag: accepted but has no effect in Consulate (a Consul Enterprise feature)",
		"ap.hcl: autopilot.disable_upgrade_migration: accepted but has no effect in Consulate (a Consul Enterprise feature)",
		"ap.hcl: autopilot.upgrade_version_tag: accepted but has no effect in Consulate (a Consul Enterprise feature)",
	}
	if !reflect.DeepEqual(rt.Warnings, wantWarn) {
		t.Fatalf("warnings %q", rt.Warnings)
	}
	_, err := Load(LoadOpts{Sources: []Source{data("bad.json", `{"autopilot": {"max_trailing_logs": -1}}`)},
		Flags: flags(func(c *Config) { c.DataDir = ptr(t.TempDir()); c.NodeName = ptr("n") })})
	var ce *Error
	if !errors.As(err, &ce) || ce.Key != "autopilot.max_trailing_logs" || !strings.Contains(err.Error(), "bad.json") {
		t.Fatalf("negative max_trailing_logs: %v", err)
	}
}
