package config

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// TestTelemetry: every Consul 1.16 telemetry key is accepted from HCL;
// the honoured ones reach the Runtime, the others warn once each.
func TestTelemetry(t *testing.T) {
	rt := tlsLoad(t, data("t.hcl", `
telemetry {
  metrics_prefix = "acme"
  disable_hostname = true
  filter_default = false
  prefix_filter = ["+acme.raft", "-acme.raft.boltdb", "acme.bad", ""]
  prometheus_retention_time = "60s"
  statsd_address = "127.0.0.1:8125"
  statsite_address = "127.0.0.1:8126"
  dogstatsd_addr = "127.0.0.1:8127"
  dogstatsd_tags = ["env:test", "role:db"]
  retry_failed_connection = false
  enable_host_metrics = true
  circonus_api_token = "x"
  circonus_submission_url = "https://example.invalid/"
}`))
	want := TelemetryRuntime{
		MetricsPrefix: "acme", DisableHostname: true, FilterDefault: false,
		AllowedPrefixes:         []string{"acme.raft"},
		BlockedPrefixes:         []string{"acme.raft.boltdb", "acme.rpc.server.call"},
		PrometheusRetentionTime: time.Minute,
		StatsdAddr:              "127.0.0.1:8125", StatsiteAddr: "127.0.0.1:8126",
		DogstatsdAddr: "127.0.0.1:8127", DogstatsdTags: []string{"env:test", "role:db"},
		RetryFailedConnection: false,
	}
	if !reflect.DeepEqual(rt.Telemetry, want) {
		t.Errorf("telemetry:\n got %+v\nwant %+v", rt.Telemetry, want)
	}
	wantWarns := []string{
		`Filter rule must begin with either '+' or '-': "acme.bad"`,
		"Cannot have empty filter rule in prefix_filter",
		"t.hcl: telemetry.circonus_api_token: accepted but has no effect in Consulate (Consulate has no Circonus sink)",
		"t.hcl: telemetry.circonus_submission_url: accepted but has no effect in Consulate (Consulate has no Circonus sink)",
		"t.hcl: telemetry.enable_host_metrics: accepted but has no effect in Consulate (host metrics are for HCP, which Consulate does not connect to)",
	}
	if !reflect.DeepEqual(rt.Warnings, wantWarns) {
		t.Errorf("warnings:\n got %q\nwant %q", rt.Warnings, wantWarns)
	}

	// Defaults, as Consul's.
	rt = tlsLoad(t, data("d.json", `{}`))
	def := TelemetryRuntime{MetricsPrefix: "consul", FilterDefault: true, RetryFailedConnection: true,
		BlockedPrefixes: []string{"consul.rpc.server.call"}}
	if !reflect.DeepEqual(rt.Telemetry, def) {
		t.Errorf("defaults: got %+v", rt.Telemetry)
	}

	// A key Consul 1.16 does not know is refused, as Consul refuses it.
	_, err := Load(LoadOpts{Sources: []Source{data("u.json", `{"telemetry": {"disable_compat_1.9": true}}`)},
		Flags: flags(func(c *Config) { c.DataDir = ptr("/tmp/x"); c.NodeName = ptr("n") })})
	if !errors.Is(err, ErrUnknownKey) {
		t.Errorf("disable_compat_1.9: err = %v, want unknown key", err)
	}
	_, err = Load(LoadOpts{Sources: []Source{data("n.json", `{"telemetry": {"prometheus_retention_time": "-1s"}}`)},
		Flags: flags(func(c *Config) { c.DataDir = ptr("/tmp/x"); c.NodeName = ptr("n") })})
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("negative retention: err = %v", err)
	}
}
