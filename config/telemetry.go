package config

import (
	"fmt"
	"time"
)

// Telemetry is the telemetry stanza: every key Consul 1.16 accepts.
type Telemetry struct {
	CirconusAPIApp                     *string `json:"circonus_api_app,omitempty"`
	CirconusAPIToken                   *string `json:"circonus_api_token,omitempty"`
	CirconusAPIURL                     *string `json:"circonus_api_url,omitempty"`
	CirconusBrokerID                   *string `json:"circonus_broker_id,omitempty"`
	CirconusBrokerSelectTag            *string `json:"circonus_broker_select_tag,omitempty"`
	CirconusCheckDisplayName           *string `json:"circonus_check_display_name,omitempty"`
	CirconusCheckForceMetricActivation *string `json:"circonus_check_force_metric_activation,omitempty"`
	CirconusCheckID                    *string `json:"circonus_check_id,omitempty"`
	CirconusCheckInstanceID            *string `json:"circonus_check_instance_id,omitempty"`
	CirconusCheckSearchTag             *string `json:"circonus_check_search_tag,omitempty"`
	CirconusCheckTags                  *string `json:"circonus_check_tags,omitempty"`
	CirconusSubmissionInterval         *string `json:"circonus_submission_interval,omitempty"`
	CirconusSubmissionURL              *string `json:"circonus_submission_url,omitempty"`

	DisableHostname         *bool          `json:"disable_hostname,omitempty"`
	EnableHostMetrics       *bool          `json:"enable_host_metrics,omitempty"`
	DogstatsdAddr           *string        `json:"dogstatsd_addr,omitempty"`
	DogstatsdTags           []string       `json:"dogstatsd_tags,omitempty"`
	RetryFailedConnection   *bool          `json:"retry_failed_connection,omitempty"`
	FilterDefault           *bool          `json:"filter_default,omitempty"`
	PrefixFilter            []string       `json:"prefix_filter,omitempty"`
	MetricsPrefix           *string        `json:"metrics_prefix,omitempty"`
	PrometheusRetentionTime *time.Duration `json:"prometheus_retention_time,omitempty"`
	StatsdAddr              *string        `json:"statsd_address,omitempty"`
	StatsiteAddr            *string        `json:"statsite_address,omitempty"`
}

// TelemetryRuntime is the validated telemetry stanza.
type TelemetryRuntime struct {
	// MetricsPrefix starts every metric name ("consul").
	MetricsPrefix string
	// DisableHostname keeps the host name out of gauge names (it is only
	// ever added when a sink besides the in-memory one is configured).
	DisableHostname bool
	// FilterDefault allows metrics that no prefix_filter rule matches.
	FilterDefault bool
	// AllowedPrefixes and BlockedPrefixes are prefix_filter's "+" and "-"
	// rules. As in Consul, "<prefix>.rpc.server.call" is blocked unless a
	// rule names it.
	AllowedPrefixes []string
	BlockedPrefixes []string
	// PrometheusRetentionTime > 0 serves ?format=prometheus and keeps a
	// metric that long after its last update; zero: off.
	PrometheusRetentionTime time.Duration
	// StatsdAddr, StatsiteAddr, DogstatsdAddr: sinks, off when empty.
	StatsdAddr    string
	StatsiteAddr  string
	DogstatsdAddr string
	DogstatsdTags []string
	// RetryFailedConnection retries, in the background, a dogstatsd
	// address whose host name does not resolve at start (the statsd and
	// statsite sinks dial lazily and always retry).
	RetryFailedConnection bool
}

// telemetry builds rt.Telemetry with Consul's defaults and warns, once
// per key, about the keys Consulate accepts without acting on.
func (b *builder) telemetry(c *Config, rt *Runtime) error {
	t := c.Telemetry
	if t == nil {
		t = &Telemetry{}
	}
	out := TelemetryRuntime{
		MetricsPrefix:         "consul",
		FilterDefault:         true,
		RetryFailedConnection: true,
		DisableHostname:       boolOr(t.DisableHostname, false),
		StatsdAddr:            str(t.StatsdAddr),
		StatsiteAddr:          str(t.StatsiteAddr),
		DogstatsdAddr:         str(t.DogstatsdAddr),
		DogstatsdTags:         t.DogstatsdTags,
	}
	if t.MetricsPrefix != nil {
		out.MetricsPrefix = *t.MetricsPrefix
	}
	out.FilterDefault = boolOr(t.FilterDefault, true)
	out.RetryFailedConnection = boolOr(t.RetryFailedConnection, true)
	if t.PrometheusRetentionTime != nil {
		if *t.PrometheusRetentionTime < 0 {
			return b.errorf("telemetry.prometheus_retention_time", "must not be negative, got %v", *t.PrometheusRetentionTime)
		}
		out.PrometheusRetentionTime = *t.PrometheusRetentionTime
	}
	serverCall := out.MetricsPrefix + ".rpc.server.call"
	named := false
	for _, rule := range t.PrefixFilter {
		if rule == "" {
			b.warns = append(b.warns, "Cannot have empty filter rule in prefix_filter")
			continue
		}
		switch rule[0] {
		case '+':
			out.AllowedPrefixes = append(out.AllowedPrefixes, rule[1:])
		case '-':
			out.BlockedPrefixes = append(out.BlockedPrefixes, rule[1:])
		default:
			b.warns = append(b.warns, fmt.Sprintf("Filter rule must begin with either '+' or '-': %q", rule))
			continue
		}
		named = named || rule[1:] == serverCall
	}
	if !named {
		out.BlockedPrefixes = append(out.BlockedPrefixes, serverCall)
	}

	noEffect := func(key string, set bool, why string) {
		if set {
			k := "telemetry." + key
			b.warns = append(b.warns, fmt.Sprintf("%s: %s: accepted but has no effect in Consulate (%s)", b.og[k], k, why))
		}
	}
	const noCirconus = "Consulate has no Circonus sink"
	for _, k := range []struct {
		key string
		v   *string
	}{
		{"circonus_api_app", t.CirconusAPIApp}, {"circonus_api_token", t.CirconusAPIToken},
		{"circonus_api_url", t.CirconusAPIURL}, {"circonus_broker_id", t.CirconusBrokerID},
		{"circonus_broker_select_tag", t.CirconusBrokerSelectTag},
		{"circonus_check_display_name", t.CirconusCheckDisplayName},
		{"circonus_check_force_metric_activation", t.CirconusCheckForceMetricActivation},
		{"circonus_check_id", t.CirconusCheckID}, {"circonus_check_instance_id", t.CirconusCheckInstanceID},
		{"circonus_check_search_tag", t.CirconusCheckSearchTag}, {"circonus_check_tags", t.CirconusCheckTags},
		{"circonus_submission_interval", t.CirconusSubmissionInterval},
		{"circonus_submission_url", t.CirconusSubmissionURL},
	} {
		noEffect(k.key, k.v != nil && *k.v != "", noCirconus)
	}
	noEffect("enable_host_metrics", t.EnableHostMetrics != nil && *t.EnableHostMetrics, "host metrics are for HCP, which Consulate does not connect to")
	rt.Telemetry = out
	return nil
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}
