package metrics

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	armon "github.com/armon/go-metrics"
	gometrics "github.com/hashicorp/go-metrics"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"consulate/internal/testutil"
)

func start(t *testing.T, cfg Config) *Registry {
	t.Helper()
	r, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return r
}

func gaugesOf(s Summary) map[string]Gauge {
	out := map[string]Gauge{}
	for _, g := range s.Gauges {
		out[g.Name] = g
	}
	return out
}

// TestGlobalReachesEachAgent: what code emits through go-metrics' global
// reaches every started registry under its own prefix; a registry that
// shut down gets nothing more. Collector gauges stay per registry.
func TestGlobalReachesEachAgent(t *testing.T) {
	a := start(t, DefaultConfig())
	bc := DefaultConfig()
	bc.Prefix = "acme"
	b := start(t, bc)
	a.AddCollector(func(set func(string, Labels, float64)) {
		set("consul.wan.servers.alive", Labels{"datacenter": "dc2"}, 3)
	})

	gometrics.IncrCounterWithLabels([]string{"rpc", "request"}, 1, nil)
	gometrics.SetGauge([]string{"session_ttl", "active"}, 4)

	sa, sb := a.Summary(), b.Summary()
	ga, gb := gaugesOf(sa), gaugesOf(sb)
	if g := ga["consul.session_ttl.active"]; g.Value != 4 {
		t.Errorf("a: session_ttl.active = %+v", g)
	}
	if g := gb["acme.session_ttl.active"]; g.Value != 4 {
		t.Errorf("b: session_ttl.active = %+v", g)
	}
	if g := ga["consul.wan.servers.alive"]; g.Value != 3 || g.Labels["datacenter"] != "dc2" {
		t.Errorf("a: wan gauge = %+v", g)
	}
	if _, ok := gb["acme.wan.servers.alive"]; ok {
		t.Error("b got a's collector gauge")
	}
	if _, ok := ga["consul.runtime.num_goroutines"]; !ok {
		t.Errorf("no runtime gauges: %v", sa.Gauges)
	}
	// The only interval is the current one, so the counter shows.
	found := false
	for _, c := range sa.Counters {
		if c.Name == "consul.rpc.request" && c.Count >= 1 {
			found = true
		}
	}
	if !found {
		t.Errorf("a: no consul.rpc.request counter: %+v", sa.Counters)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	gometrics.SetGauge([]string{"session_ttl", "active"}, 9)
	if g := gaugesOf(b.inmemSummaryNoCollect())["acme.session_ttl.active"]; g.Value != 4 {
		t.Errorf("b after shutdown: %+v", g)
	}
}

// inmemSummaryNoCollect reads without running collectors (for a
// registry already shut down).
func (r *Registry) inmemSummaryNoCollect() Summary {
	v, _ := r.inmem.DisplayMetrics(nil, nil)
	ms := v.(gometrics.MetricsSummary)
	var s Summary
	for _, g := range ms.Gauges {
		s.Gauges = append(s.Gauges, Gauge{Name: g.Name, Value: g.Value})
	}
	return s
}

// TestPrometheusFormat parses the exposition with Prometheus's own parser.
func TestPrometheusFormat(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PrometheusRetention = time.Minute
	cfg.DisableHostname = true
	r := start(t, cfg)
	r.AddCollector(func(set func(string, Labels, float64)) {
		set("consul.wan.servers.alive", Labels{"datacenter": "dc2"}, 2)
	})
	gometrics.IncrCounterWithLabels([]string{"rpc", "cross-dc"}, 1, []gometrics.Label{{Name: "datacenter", Value: "dc2"}})
	gometrics.MeasureSinceWithLabels([]string{"api", "http"}, time.Now().Add(-time.Millisecond),
		[]gometrics.Label{{Name: "method", Value: "GET"}, {Name: "path", Value: "v1_kv_"}})

	rec := httptest.NewRecorder()
	r.PrometheusHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/agent/metrics?format=prometheus", nil))
	fams := parseProm(t, rec.Body.String())
	check := func(name string, typ dto.MetricType, labels map[string]string) {
		t.Helper()
		f, ok := fams[name]
		if !ok {
			t.Errorf("no family %s", name)
			return
		}
		if f.GetType() != typ {
			t.Errorf("%s: type %v, want %v", name, f.GetType(), typ)
		}
		if labels == nil {
			return
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return
		}
		t.Errorf("%s: no series with labels %v", name, labels)
	}
	check("consul_wan_servers_alive", dto.MetricType_GAUGE, map[string]string{"datacenter": "dc2"})
	check("consul_rpc_cross_dc", dto.MetricType_COUNTER, map[string]string{"datacenter": "dc2"})
	check("consul_api_http", dto.MetricType_SUMMARY, map[string]string{"method": "GET", "path": "v1_kv_"})
	check("consul_runtime_alloc_bytes", dto.MetricType_GAUGE, nil)
	check("consul_raft_commitTime", dto.MetricType_SUMMARY, nil)
	check("go_goroutines", dto.MetricType_GAUGE, nil)
}

func parseProm(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, body)
	}
	return fams
}

// TestHostnameAsConsul: the host name goes into gauge names only when a
// sink besides the in-memory one exists and disable_hostname is false.
func TestHostnameAsConsul(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HostName = "h1"
	plain := start(t, cfg)
	if _, ok := gaugesOf(plain.Summary())["consul.runtime.num_goroutines"]; !ok {
		t.Error("in-memory only: gauge carries a host name")
	}
	cfg.PrometheusRetention = time.Minute
	withProm := start(t, cfg)
	if _, ok := gaugesOf(withProm.Summary())["consul.h1.runtime.num_goroutines"]; !ok {
		t.Errorf("with a prometheus sink: no host name in %v", withProm.Summary().Gauges)
	}
}

// TestStatsd: a statsd sink sends to a UDP listener.
func TestStatsd(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.14.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cfg := DefaultConfig()
	cfg.StatsdAddr = pc.LocalAddr().String()
	cfg.DisableHostname = true
	start(t, cfg)
	got := make(chan string, 64)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				close(got)
				return
			}
			got <- string(buf[:n])
		}
	}()
	var seen strings.Builder
	testutil.WaitFor(t, 10*time.Second, "statsd packets with consul.kvs.apply_test and runtime gauges", func() bool {
		gometrics.IncrCounter([]string{"kvs", "apply_test"}, 1)
		select {
		case s := <-got:
			seen.WriteString(s)
		case <-time.After(200 * time.Millisecond):
		}
		return strings.Contains(seen.String(), "consul.kvs.apply_test:1.000000|c") &&
			strings.Contains(seen.String(), "consul.runtime.num_goroutines:")
	})
}

// TestPrefixFilter: "-" rules drop metrics, FilterDefault=false drops what
// no rule allows.
func TestPrefixFilter(t *testing.T) {
	cfg := DefaultConfig()
	cfg.FilterDefault = false
	cfg.AllowedPrefixes = []string{"consul.raft"}
	cfg.BlockedPrefixes = []string{"consul.raft.boltdb"}
	r := start(t, cfg)
	gometrics.SetGauge([]string{"raft", "x"}, 1)
	gometrics.SetGauge([]string{"raft", "boltdb", "y"}, 1)
	gometrics.SetGauge([]string{"kvs", "z"}, 1)
	g := gaugesOf(r.Summary())
	if _, ok := g["consul.raft.x"]; !ok {
		t.Error("allowed gauge missing")
	}
	if _, ok := g["consul.raft.boltdb.y"]; ok {
		t.Error("blocked gauge present")
	}
	if _, ok := g["consul.kvs.z"]; ok {
		t.Error("unmatched gauge present with filter_default=false")
	}
}

// TestLegacyGlobal: what raft-boltdb emits through armon/go-metrics (the
// library's old home) reaches the agents too.
func TestLegacyGlobal(t *testing.T) {
	r := start(t, DefaultConfig())
	armon.SetGauge([]string{"raft", "boltdb", "numFreePages"}, 7)
	if g := gaugesOf(r.Summary())["consul.raft.boltdb.numFreePages"]; g.Value != 7 {
		t.Errorf("boltdb gauge = %+v", g)
	}
}

// TestDogstatsd: a dogstatsd sink sends labels and dogstatsd_tags as tags.
func TestDogstatsd(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.14.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	cfg := DefaultConfig()
	cfg.DogstatsdAddr = pc.LocalAddr().String()
	cfg.DogstatsdTags = []string{"env:test"}
	cfg.DisableHostname = true
	start(t, cfg)
	var seen strings.Builder
	buf := make([]byte, 65536)
	testutil.WaitFor(t, 10*time.Second, "a dogstatsd packet with tags", func() bool {
		gometrics.IncrCounterWithLabels([]string{"rpc", "cross-dc"}, 1, []gometrics.Label{{Name: "datacenter", Value: "dc2"}})
		pc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, _, err := pc.ReadFrom(buf); err == nil {
			seen.Write(buf[:n])
		}
		s := seen.String()
		return strings.Contains(s, "consul.rpc.cross-dc:1|c|#env:test,datacenter:dc2")
	})
}

// TestPrometheusEmptyPrefix: with metrics_prefix "" the definitions carry
// no empty leading element, so no phantom "_rpc_request" family appears
// and the real family keeps its help text.
func TestPrometheusEmptyPrefix(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Prefix = ""
	cfg.PrometheusRetention = time.Minute
	cfg.DisableHostname = true
	r := start(t, cfg)
	gometrics.IncrCounterWithLabels([]string{"rpc", "request"}, 1, nil)
	rec := httptest.NewRecorder()
	r.PrometheusHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/agent/metrics?format=prometheus", nil))
	fams := parseProm(t, rec.Body.String())
	for name := range fams {
		if strings.HasPrefix(name, "_") {
			t.Errorf("phantom family %s", name)
		}
	}
	f, ok := fams["rpc_request"]
	if !ok {
		t.Fatalf("no rpc_request family in\n%s", rec.Body.String())
	}
	if f.GetHelp() != "RPC requests a server received." {
		t.Errorf("rpc_request help %q", f.GetHelp())
	}
	if f.GetType() != dto.MetricType_COUNTER {
		t.Errorf("rpc_request type %v", f.GetType())
	}
}

// TestTotalsAcrossIntervals: counts emitted in different in-memory
// intervals all show in Totals (Summary shows one interval only).
func TestTotalsAcrossIntervals(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Interval, cfg.Retain = 20*time.Millisecond, 10*time.Second
	r := start(t, cfg)
	key := []string{"totals", "test"}
	lbl := []gometrics.Label{{Name: "case", Value: "across"}}
	r.Metrics().IncrCounterWithLabels(key, 1, lbl)
	r.Metrics().AddSampleWithLabels(key, 5, lbl)
	start := len(r.inmem.Data())
	testutil.WaitFor(t, 5*time.Second, "a new in-memory interval", func() bool {
		r.Metrics().SetGauge([]string{"totals", "tick"}, 1)
		return len(r.inmem.Data()) > start
	})
	r.Metrics().IncrCounterWithLabels(key, 1, lbl)
	r.Metrics().AddSampleWithLabels(key, 7, lbl)
	counters, samples := r.Totals()
	find := func(list []Sampled) Sampled {
		for _, s := range list {
			if s.Name == "consul.totals.test" && s.Labels["case"] == "across" {
				return s
			}
		}
		return Sampled{}
	}
	if c := find(counters); c.Count != 2 {
		t.Errorf("counter %+v, want count 2", c)
	}
	if s := find(samples); s.Count != 2 || s.Sum != 12 || s.Min != 5 || s.Max != 7 {
		t.Errorf("sample %+v, want count 2 sum 12 min 5 max 7", s)
	}
}

// TestGlobalReclaimed: a registry started after something else replaced
// go-metrics' global (an embedding program, another test) still gets
// what code emits through the global.
func TestGlobalReclaimed(t *testing.T) {
	start(t, DefaultConfig())
	if _, err := gometrics.NewGlobal(gometrics.DefaultConfig("other"), &gometrics.BlackholeSink{}); err != nil {
		t.Fatal(err)
	}
	r := start(t, DefaultConfig())
	gometrics.IncrCounterWithLabels([]string{"reclaimed"}, 1, nil)
	counters, _ := r.Totals()
	for _, c := range counters {
		if c.Name == "consul.reclaimed" && c.Count == 1 {
			return
		}
	}
	t.Fatalf("counter through the replaced global did not arrive: %+v", counters)
}
