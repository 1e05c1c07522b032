package consumers

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/internal/testutil"
)

const (
	promAgentIP = "127.0.19.2"
	promIP      = "127.0.19.21"
	promPort    = 19090
)

// promBuildHint says how to get a Prometheus with Consul service discovery:
// Debian's prometheus package (2.42 in bookworm) is built without it.
const promBuildHint = "go install -tags remove_all_sd,enable_consul_sd github.com/prometheus/prometheus/cmd/prometheus@v0.316.0"

// promCandidates lists the prometheus binaries to try, in order: the one
// $CONSULATE_PROMETHEUS names, the one `go install` puts in GOPATH/bin,
// then the one on PATH.
func promCandidates() []string {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if p == "" || seen[p] || !isExecutable(p) {
			return
		}
		seen[p] = true
		out = append(out, p)
	}
	add(os.Getenv("CONSULATE_PROMETHEUS"))
	if gobin, err := exec.Command("go", "env", "GOBIN").Output(); err == nil {
		if d := strings.TrimSpace(string(gobin)); d != "" {
			add(filepath.Join(d, "prometheus"))
		}
	}
	if gopath, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, d := range filepath.SplitList(strings.TrimSpace(string(gopath))) {
			add(filepath.Join(d, "bin", "prometheus"))
		}
	}
	if p, err := exec.LookPath("prometheus"); err == nil {
		add(p)
	}
	return out
}

// startPrometheus runs the first candidate Prometheus that accepts config
// and waits until its HTTP API answers. It skips when there is none, or
// when every one was built without consul_sd_configs.
func startPrometheus(t *testing.T, config string) *proc {
	t.Helper()
	candidates := promCandidates()
	if len(candidates) == 0 {
		t.Skipf("prometheus is not installed; skipping the consul_sd_configs test (get one with Consul SD: %s)", promBuildHint)
	}
	dir := t.TempDir()
	confPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	var refused []string
	for i, bin := range candidates {
		cmd := exec.Command(bin,
			"--config.file="+confPath,
			"--storage.tsdb.path="+filepath.Join(dir, fmt.Sprintf("data%d", i)),
			fmt.Sprintf("--web.listen-address=%s:%d", promIP, promPort),
			// Apply discovered targets every second instead of every 5 s
			// (a hidden flag; Prometheus's discovery manager still
			// batches its updates over 5 s).
			"--scrape.discovery-reload-interval=1s",
			"--log.level=debug")
		p := startProc(t, "prometheus", cmd)
		err := testutil.Poll(30*time.Second, func() error {
			if p.exited() {
				return nil
			}
			code, err := promGet("/-/ready", nil)
			if err != nil {
				return err
			}
			if code != http.StatusOK {
				return fmt.Errorf("/-/ready: %d", code)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s not ready: %v\n%s", bin, err, tail(p.log.String(), 30))
		}
		if !p.exited() {
			t.Logf("prometheus: %s", bin)
			return p
		}
		if strings.Contains(p.log.String(), "consul_sd_configs") {
			refused = append(refused, bin)
			continue
		}
		t.Fatalf("%s exited:\n%s", bin, tail(p.log.String(), 30))
	}
	t.Skipf("every prometheus found (%s) was built without Consul service discovery (Debian's package disables it); skipping the consul_sd_configs test (get one with: %s)",
		strings.Join(refused, ", "), promBuildHint)
	return nil
}

// promGet fetches a Prometheus HTTP API path (getJSON).
func promGet(path string, out any) (int, error) {
	return getJSON(fmt.Sprintf("http://%s:%d%s", promIP, promPort, path), out)
}

// promTargets returns the active targets of job, keyed by their
// __meta_consul_service_id, as discovered labels.
func promTargets(job string) (map[string]map[string]string, error) {
	var resp struct {
		Status string `json:"status"`
		Data   struct {
			ActiveTargets []struct {
				DiscoveredLabels map[string]string `json:"discoveredLabels"`
				Labels           map[string]string `json:"labels"`
				ScrapePool       string            `json:"scrapePool"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if _, err := promGet("/api/v1/targets?state=active", &resp); err != nil {
		return nil, err
	}
	if resp.Status != "success" {
		return nil, fmt.Errorf("targets: status %q", resp.Status)
	}
	out := map[string]map[string]string{}
	for _, tg := range resp.Data.ActiveTargets {
		if tg.ScrapePool != job {
			continue
		}
		out[tg.DiscoveredLabels["__meta_consul_service_id"]] = tg.DiscoveredLabels
	}
	return out, nil
}

// wantTargetIDs checks that the job's targets are exactly ids (Consul's
// own "consul" service aside).
func wantTargetIDs(targets map[string]map[string]string, ids ...string) error {
	var got []string
	for id, l := range targets {
		if l["__meta_consul_service"] != "consul" {
			got = append(got, id)
		}
	}
	sort.Strings(got)
	sort.Strings(ids)
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		return fmt.Errorf("targets %v, want %v", got, ids)
	}
	return nil
}

// Prometheus's consul_sd_configs finds the services registered in
// Consulate with Consul's meta labels, follows a registration and a
// deregistration (through its blocking queries on the catalog), and
// scrapes the targets at the service's address (or the node's when the
// service has none).
func TestPrometheusConsulSD(t *testing.T) {
	if len(promCandidates()) == 0 {
		t.Skipf("prometheus is not installed; skipping the consul_sd_configs test (get one with Consul SD: %s)", promBuildHint)
	}
	start := time.Now()
	a := startDevAgent(t, "prom-sd", promAgentIP)
	c := a.client(t)
	for _, s := range []*api.AgentServiceRegistration{
		{ID: "web-1", Name: "web", Tags: []string{"a", "b"}, Address: "127.0.19.31", Port: 8080, Meta: map[string]string{"version": "1"}},
		{ID: "web-2", Name: "web", Tags: []string{"b"}, Address: "127.0.19.32", Port: 8081},
		{ID: "db-1", Name: "db", Port: 5432},
	} {
		if err := c.Agent().ServiceRegister(s); err != nil {
			t.Fatal(err)
		}
	}

	startPrometheus(t, fmt.Sprintf(`global:
  scrape_interval: 1h
scrape_configs:
  - job_name: consulate
    consul_sd_configs:
      - server: %s
        refresh_interval: 1s
`, a.httpAddr()))

	want := map[string]map[string]string{
		"web-1": {
			"__address__":                            "127.0.19.31:8080",
			"__meta_consul_service":                  "web",
			"__meta_consul_service_id":               "web-1",
			"__meta_consul_node":                     "prom-sd",
			"__meta_consul_dc":                       "dc1",
			"__meta_consul_tags":                     ",a,b,",
			"__meta_consul_address":                  promAgentIP,
			"__meta_consul_service_address":          "127.0.19.31",
			"__meta_consul_service_port":             "8080",
			"__meta_consul_service_metadata_version": "1",
			"__meta_consul_health":                   "passing",
			"__meta_consul_tagged_address_lan":       promAgentIP,
		},
		"web-2": {
			"__address__":                   "127.0.19.32:8081",
			"__meta_consul_service":         "web",
			"__meta_consul_tags":            ",b,",
			"__meta_consul_service_address": "127.0.19.32",
			"__meta_consul_service_port":    "8081",
		},
		"db-1": {
			// No service address: Prometheus scrapes the node's. (A
			// label with an empty value, as this service address, is
			// left out of discoveredLabels.)
			"__address__":                   promAgentIP + ":5432",
			"__meta_consul_service":         "db",
			"__meta_consul_node":            "prom-sd",
			"__meta_consul_service_address": "",
			"__meta_consul_service_port":    "5432",
		},
	}
	// The node's tagged addresses come with the agent's first sync, which
	// may follow the services' registration: wait for the labels too.
	var targets map[string]map[string]string
	testutil.WaitForErr(t, 30*time.Second, "Prometheus to discover web-1, web-2 and db-1 with their labels", func() error {
		var err error
		if targets, err = promTargets("consulate"); err != nil {
			return err
		}
		if err := wantTargetIDs(targets, "web-1", "web-2", "db-1"); err != nil {
			return err
		}
		var diffs []string
		for id, labels := range want {
			for k, v := range labels {
				if got := targets[id][k]; got != v {
					diffs = append(diffs, fmt.Sprintf("%s: %s = %q, want %q", id, k, got, v))
				}
			}
		}
		if len(diffs) > 0 {
			sort.Strings(diffs)
			return fmt.Errorf("%s\nall labels: %v", strings.Join(diffs, "; "), targets)
		}
		return nil
	})
	t.Logf("discovered %v after start", time.Since(start).Round(time.Millisecond))

	// A deregistered service's target goes away, a new one appears.
	if err := c.Agent().ServiceDeregister("web-2"); err != nil {
		t.Fatal(err)
	}
	if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "cache-1", Name: "cache", Address: "127.0.19.33", Port: 6379}); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	testutil.WaitForErr(t, 20*time.Second, "Prometheus to drop web-2 and find cache-1", func() error {
		var err error
		if targets, err = promTargets("consulate"); err != nil {
			return err
		}
		if err := wantTargetIDs(targets, "web-1", "db-1", "cache-1"); err != nil {
			return err
		}
		if got := targets["cache-1"]["__address__"]; got != "127.0.19.33:6379" {
			return fmt.Errorf("cache-1 __address__ %q", got)
		}
		return nil
	})
	t.Logf("followed the change in %v", time.Since(changed).Round(time.Millisecond))
}
