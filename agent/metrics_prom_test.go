package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"consulate/internal/testutil"
)

// TestPrometheusScrapesAgent runs the real Prometheus server (when it is
// installed) scraping a server agent's /v1/agent/metrics and asks it,
// through its query API, for Consul's metrics: the target is up and
// consul_raft_state_leader and consul_runtime_num_goroutines have samples.
func TestPrometheusScrapesAgent(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus is not installed")
	}
	startAgent(t, metricsAgentOpts(t, "127.0.14.4", `, "telemetry": {"prometheus_retention_time": "60s", "disable_hostname": true}`), nil)

	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: consulate
    metrics_path: /v1/agent/metrics
    params:
      format: [prometheus]
    static_configs:
      - targets: ["127.0.14.4:%d"]
`, testMetricsHTTP)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := "127.0.14.20:19090"
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen)
	logPath := filepath.Join(dir, "prometheus.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		logf.Close()
	})

	query := func(q string) (int, error) {
		resp, err := http.Get("http://" + listen + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var out struct {
			Status string
			Data   struct {
				Result []struct {
					Metric map[string]string
					Value  []any
				}
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return 0, err
		}
		if out.Status != "success" {
			return 0, fmt.Errorf("status %q", out.Status)
		}
		return len(out.Data.Result), nil
	}
	for _, q := range []string{`up{job="consulate"} == 1`, `consul_raft_state_leader > 0`, `consul_runtime_num_goroutines`, `consul_api_http_count{path="v1_agent_metrics"}`} {
		testutil.WaitForErr(t, 30*time.Second, "Prometheus to answer "+q, func() error {
			n, err := query(q)
			if err == nil && n == 0 {
				err = fmt.Errorf("no series")
			}
			if err != nil {
				b, _ := os.ReadFile(logPath)
				if len(b) > 2000 {
					b = b[len(b)-2000:]
				}
				return fmt.Errorf("%w (log tail: %s)", err, b)
			}
			return nil
		})
	}
}
