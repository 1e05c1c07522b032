package config

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestConsulDefaultValuesAccepted: values that are Consul's own defaults
// (or its documented "off") load: a negative rate is unlimited, and
// ports.serf_wan = -1 runs a server without a WAN pool.
func TestConsulDefaultValuesAccepted(t *testing.T) {
	hcl := `
server = true
limits {
  rpc_rate = -1
  request_limits { mode = "permissive" read_rate = -1 write_rate = -0.5 }
}
ports { serf_wan = -1 }
`
	rt := tlsLoad(t, data("d.hcl", hcl))
	if !math.IsInf(rt.RPCRate, 1) || !math.IsInf(rt.RequestLimitsReadRate, 1) || !math.IsInf(rt.RequestLimitsWriteRate, 1) {
		t.Fatalf("rates %g %g %g, want unlimited", rt.RPCRate, rt.RequestLimitsReadRate, rt.RequestLimitsWriteRate)
	}
	if rt.SerfPortWAN != -1 {
		t.Fatalf("serf_wan %d, want -1 (disabled)", rt.SerfPortWAN)
	}
	if _, err := Load(LoadOpts{Sources: []Source{data("p.json", `{"ports": {"serf_wan": -2}}`)},
		Flags: flags(func(c *Config) { c.DataDir = ptr("/tmp/x"); c.NodeName = ptr("n") })}); err == nil {
		t.Fatal("ports.serf_wan = -2 accepted")
	}
}

// TestDefaultValuesOfIgnoredKeysDoNotWarn: an ignored key set to the value
// that changes nothing (Consul's default) adds no warning; any other value
// still warns.
func TestDefaultValuesOfIgnoredKeysDoNotWarn(t *testing.T) {
	quiet := map[string]string{
		"hcl": `
server = true
ports { grpc_tls = -1 }
disable_keyring_file = false
rpc { enable_streaming = true }
autopilot {
  redundancy_zone_tag = ""
  disable_upgrade_migration = false
  upgrade_version_tag = ""
}
telemetry {
  circonus_api_token = ""
  circonus_api_url = ""
}
performance { leave_drain_time = "5m" }
`,
		"json": `{"server": true, "ports": {"grpc_tls": -1}, "disable_keyring_file": false, "rpc": {"enable_streaming": true},
"autopilot": {"redundancy_zone_tag": "", "disable_upgrade_migration": false, "upgrade_version_tag": ""},
"telemetry": {"circonus_api_token": "", "circonus_api_url": ""}, "performance": {"leave_drain_time": "5m"}}`,
	}
	for kind, body := range quiet {
		rt := tlsLoad(t, data("q."+kind, body))
		if len(rt.Warnings) != 0 {
			t.Errorf("%s: warnings %q, want none", kind, rt.Warnings)
		}
		if rt.LeaveDrainTime != 5*time.Minute {
			t.Errorf("%s: leave_drain_time %s, want 5m", kind, rt.LeaveDrainTime)
		}
	}
	loud := `{"server": true, "ports": {"grpc_tls": 8503}, "disable_keyring_file": true, "rpc": {"enable_streaming": false},
"autopilot": {"redundancy_zone_tag": "zone", "disable_upgrade_migration": true, "upgrade_version_tag": "v"},
"telemetry": {"circonus_api_token": "x"}}`
	rt := tlsLoad(t, data("l.json", loud))
	for _, k := range []string{"ports.grpc_tls", "disable_keyring_file", "rpc", "autopilot.redundancy_zone_tag",
		"autopilot.disable_upgrade_migration", "autopilot.upgrade_version_tag", "telemetry.circonus_api_token"} {
		found := false
		for _, w := range rt.Warnings {
			if strings.Contains(w, ": "+k+": ") {
				found = true
			}
		}
		if !found {
			t.Errorf("no warning for %s in %q", k, rt.Warnings)
		}
	}
}
