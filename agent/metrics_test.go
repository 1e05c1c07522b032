package agent

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"consulate/config"
	"consulate/internal/testutil"
)

// The metrics tests use 127.0.14.x with these HTTP and DNS ports.
const (
	testMetricsHTTP = 18500
	testMetricsDNS  = 18600
)

func metricsAgentOpts(t *testing.T, ip, extra string) config.LoadOpts {
	return testOpts(t, ip, fmt.Sprintf(`, "ports": {"dns": %d, "http": %d, "server": %d, "serf_lan": %d, "serf_wan": %d}%s`,
		testMetricsDNS, testMetricsHTTP, testServerPort, testSerfLAN, testSerfWAN, extra))
}

func apiClient(t *testing.T, ip string) *api.Client {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: fmt.Sprintf("%s:%d", ip, testMetricsHTTP)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMetricsPrometheusFromRealAgent: a server and a client agent with
// telemetry.prometheus_retention_time; the server's
// /v1/agent/metrics?format=prometheus, read with Prometheus's own parser,
// has Consul's names, types and labels for what the two just did (KV
// writes through the client, a blocking query, DNS, gossip, Raft), and
// the statsd sink sends to a UDP socket.
func TestMetricsPrometheusFromRealAgent(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.14.9:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	tele := fmt.Sprintf(`, "telemetry": {"prometheus_retention_time": "60s", "disable_hostname": true, "statsd_address": %q}`, pc.LocalAddr())
	srv := startAgent(t, metricsAgentOpts(t, "127.0.14.1", tele), nil)
	client := startClientAgent(t, metricsAgentOpts(t, "127.0.14.2",
		fmt.Sprintf(`, "server": false, "bootstrap": false, "retry_join": ["127.0.14.1:%d"]`, testSerfLAN)))
	_ = srv

	cc := apiClient(t, "127.0.14.2")
	testutil.WaitForErr(t, 20*time.Second, "a KV write through the client", func() error {
		_, err := cc.KV().Put(&api.KVPair{Key: "m/a", Value: []byte("1")}, nil)
		return err
	})
	_, meta, err := cc.KV().Get("m/a", nil)
	if err != nil {
		t.Fatal(err)
	}
	// A blocking query that returns at once (the index moved).
	if _, _, err := cc.KV().Get("m/a", &api.QueryOptions{WaitIndex: meta.LastIndex - 1, WaitTime: time.Second}); err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	m.SetQuestion("consul.service.consul.", dns.TypeA)
	if _, err := dns.Exchange(m, fmt.Sprintf("127.0.14.1:%d", testMetricsDNS)); err != nil {
		t.Fatal(err)
	}
	_ = client

	type want struct {
		typ    dto.MetricType
		labels map[string]string
	}
	wants := map[string]want{
		"consul_raft_apply":              {dto.MetricType_COUNTER, nil},
		"consul_raft_state_leader":       {dto.MetricType_COUNTER, nil},
		"consul_raft_commitTime":         {dto.MetricType_SUMMARY, nil},
		"consul_raft_fsm_apply":          {dto.MetricType_SUMMARY, nil},
		"consul_rpc_request":             {dto.MetricType_COUNTER, nil},
		"consul_rpc_query":               {dto.MetricType_COUNTER, nil},
		"consul_kvs_apply":               {dto.MetricType_SUMMARY, nil},
		"consul_health_service_query":    {dto.MetricType_COUNTER, map[string]string{"service": "consul"}},
		"consul_api_http":                {dto.MetricType_SUMMARY, map[string]string{"method": "PUT", "path": "v1_kv_"}},
		"consul_dns_domain_query":        {dto.MetricType_SUMMARY, map[string]string{"node": "node-127-0-14-1"}},
		"consul_serf_member_join":        {dto.MetricType_COUNTER, map[string]string{"network": "lan"}},
		"consul_memberlist_gossip":       {dto.MetricType_SUMMARY, map[string]string{"network": "lan"}},
		"consul_memberlist_health_score": {dto.MetricType_GAUGE, map[string]string{"network": "lan"}},
		"consul_runtime_num_goroutines":  {dto.MetricType_GAUGE, nil},
		"consul_runtime_gc_pause_ns":     {dto.MetricType_SUMMARY, nil},
		"consul_session_ttl_active":      {dto.MetricType_GAUGE, nil},
		"consul_rpc_conns_open":          {dto.MetricType_GAUGE, nil},
		"consul_lan_members_failed":      {dto.MetricType_GAUGE, map[string]string{"network": "lan"}},
		"go_goroutines":                  {dto.MetricType_GAUGE, nil},
	}
	url := fmt.Sprintf("http://127.0.14.1:%d/v1/agent/metrics?format=prometheus", testMetricsHTTP)
	var missing []string
	testutil.WaitFor(t, 20*time.Second, "Consul's metric names in the Prometheus exposition", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			missing = []string{err.Error()}
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
		if err != nil {
			t.Fatalf("Prometheus's parser: %v\n%s", err, body)
		}
		missing = missing[:0]
		for name, w := range wants {
			f, ok := fams[name]
			if !ok {
				missing = append(missing, name)
				continue
			}
			if f.GetType() != w.typ {
				t.Fatalf("%s: type %v, want %v", name, f.GetType(), w.typ)
			}
			if !hasSeries(f, w.labels) {
				missing = append(missing, fmt.Sprintf("%s%v", name, w.labels))
			}
		}
		return len(missing) == 0
	})
	if len(missing) > 0 {
		t.Fatalf("missing %v", missing)
	}

	// The statsd sink got Consul's names too.
	var seen strings.Builder
	buf := make([]byte, 65536)
	testutil.WaitFor(t, 10*time.Second, "consul.raft.apply and consul.api.http over statsd", func() bool {
		pc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, _, err := pc.ReadFrom(buf); err == nil {
			seen.Write(buf[:n])
		}
		s := seen.String()
		return strings.Contains(s, "consul.raft.apply:") && strings.Contains(s, "consul.api.http.")
	})
}

// hasSeries reports whether f has a series carrying labels (nil: any)
// that was emitted: a counter above zero, a summary with samples (the
// Prometheus sink also shows every name of metrics.Names unemitted).
func hasSeries(f *dto.MetricFamily, labels map[string]string) bool {
next:
	for _, m := range f.GetMetric() {
		if c := m.GetCounter(); c != nil && c.GetValue() == 0 {
			continue
		}
		if s := m.GetSummary(); s != nil && s.GetSampleCount() == 0 {
			continue
		}
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		return true
	}
	return false
}

// startClientAgent starts a client agent and waits until it knows a
// server.
func startClientAgent(t *testing.T, opts config.LoadOpts) *Agent {
	t.Helper()
	a := startAgentNoLeader(t, opts)
	testutil.WaitFor(t, 20*time.Second, "the client to see a server", func() bool {
		for _, m := range a.lan.Members() {
			if m.Tags["role"] == "consul" {
				return true
			}
		}
		return false
	})
	return a
}

// TestMetricsJSONWithConsulClient: the official client reads the JSON of
// /v1/agent/metrics with Consul's names; without a retention time the
// Prometheus format answers 415 with Consul's text.
func TestMetricsJSONWithConsulClient(t *testing.T) {
	startAgent(t, metricsAgentOpts(t, "127.0.14.3", ""), nil)
	c := apiClient(t, "127.0.14.3")
	var last *api.MetricsInfo
	testutil.WaitForErr(t, 25*time.Second, "Consul's names in the JSON metrics", func() error {
		if _, err := c.KV().Put(&api.KVPair{Key: "j", Value: []byte("1")}, nil); err != nil {
			return err
		}
		mi, err := c.Agent().Metrics()
		if err != nil {
			return err
		}
		last = mi
		names := map[string]bool{}
		for _, g := range mi.Gauges {
			names[g.Name] = true
		}
		for _, s := range mi.Samples {
			names[s.Name] = true
		}
		for _, s := range mi.Counters {
			names[s.Name] = true
		}
		for _, n := range []string{"consul.runtime.num_goroutines", "consul.runtime.alloc_bytes", "consul.memberlist.health.score",
			"consul.raft.apply", "consul.raft.commitTime", "consul.kvs.apply", "consul.api.http", "consul.session_ttl.active"} {
			if !names[n] {
				return fmt.Errorf("no %s", n)
			}
		}
		return nil
	})
	if last.Timestamp == "" {
		t.Error("no Timestamp")
	}
	for _, s := range last.Samples {
		if s.Name == "consul.api.http" && (s.Labels["method"] == "" || s.Labels["path"] == "") {
			t.Errorf("consul.api.http without method/path labels: %+v", s)
		}
	}

	resp, err := http.Get(fmt.Sprintf("http://127.0.14.3:%d/v1/agent/metrics?format=prometheus", testMetricsHTTP))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType || string(body) != "Prometheus is not enabled since its retention time is not positive" {
		t.Errorf("prometheus off: %d %q", resp.StatusCode, body)
	}
	// Asking for OpenMetrics in Accept is asking for Prometheus, as in Consul.
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.14.3:%d/v1/agent/metrics", testMetricsHTTP), nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0,text/plain;q=0.5")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("Accept: openmetrics with prometheus off: %d", resp.StatusCode)
	}
}

// startAgentNoLeader is startAgent for an agent that is no server.
func startAgentNoLeader(t *testing.T, opts config.LoadOpts) *Agent {
	t.Helper()
	rt, err := config.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	return runAgent(t, rt, Options{LoadOpts: opts, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "1.2.3-test"})
}
