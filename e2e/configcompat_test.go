package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/internal/testutil"
)

// prodToken is the initial management (and agent) token of the
// consul-prod fixture.
const prodToken = "9f7e3a52-6a1c-4c5e-9d4b-2f1a0c3e8b71"

// TestProdConfigDirStarts runs `consulate agent -config-dir` on the
// production-style directory built from Consul's documentation examples
// (config/testdata/consul-prod), with certificates made for the test and
// one local file for what a single test node needs (bootstrap_expect 1,
// the certificate paths, a shorter session_ttl_min). The agent starts,
// logs each ignored key once, registers the services and checks it runs,
// honours session_ttl_min and applies FailuresBeforeCritical to a check
// registered through the HTTP API.
func TestProdConfigDirStarts(t *testing.T) {
	const ip = "127.0.13.1"
	certs := t.TempDir()
	cliIn(t, certs, "tls", "ca", "create")
	cliIn(t, certs, "tls", "cert", "create", "-server", "-dc", "dc1", "-additional-ipaddress", ip)

	conf := t.TempDir()
	fixture := filepath.Join("..", "config", "testdata", "consul-prod")
	for _, f := range []string{"consul.hcl", "server.hcl", "services.json"} {
		b, err := os.ReadFile(filepath.Join(fixture, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(conf, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	logDir := t.TempDir()
	local, err := json.Marshal(map[string]any{
		"bootstrap_expect": 1,
		"log_file":         logDir + "/",
		"session_ttl_min":  "2s",
		// Blocking queries: wait 1s without ?wait=, 3s at most.
		"default_query_time": "1s",
		"max_query_time":     "3s",
		"tls": map[string]any{"defaults": map[string]any{
			"ca_file":   filepath.Join(certs, "consul-agent-ca.pem"),
			"cert_file": filepath.Join(certs, "dc1-server-consul-0.pem"),
			"key_file":  filepath.Join(certs, "dc1-server-consul-0-key.pem"),
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conf, "zz-local.json"), local, 0o600); err != nil {
		t.Fatal(err)
	}

	// validate accepts the same directory.
	if out, err := cli(t, "validate", conf); err != nil || !strings.Contains(out, "Configuration is valid!") {
		t.Fatalf("validate: %v\n%s", err, out)
	}

	a := startAgent(t, "prod1", ip, "-config-dir", conf)
	a.waitHTTP(20 * time.Second)
	a.waitLeader(20 * time.Second)

	// log_file from the fixture (pointed at a temp dir) gets the agent's log.
	testutil.WaitForErr(t, 10*time.Second, "log file written", func() error {
		b, err := os.ReadFile(filepath.Join(logDir, "consulate.log"))
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), "accepted but has no effect") {
			return fmt.Errorf("log file has no warnings yet (%d bytes)", len(b))
		}
		return nil
	})

	// Each ignored key is logged once, naming its file.
	for _, w := range []string{
		"server.hcl: connect.enabled: accepted but has no effect in Consulate",
		"consul.hcl: performance.rpc_hold_timeout: accepted but has no effect in Consulate",
	} {
		waitLog(t, a, "warning", w)
		if n := strings.Count(a.log.String(), w); n != 1 {
			t.Errorf("warning %q logged %d times, want once", w, n)
		}
	}

	// http_config.response_headers from the fixture are on every answer.
	resp, err := http.Get("http://" + a.httpAddr() + "/v1/status/leader")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options = %q, want DENY (http_config.response_headers)", got)
	}

	// telemetry.prometheus_retention_time from the fixture turns on the
	// Prometheus format; prefix_filter keeps consul.raft.apply.
	testutil.WaitForErr(t, 15*time.Second, "prometheus metrics", func() error {
		req, _ := http.NewRequest("GET", "http://"+a.httpAddr()+"/v1/agent/metrics?format=prometheus", nil)
		req.Header.Set("X-Consul-Token", prodToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.Contains(string(b), "consul_raft_apply") {
			return fmt.Errorf("status %d, consul_raft_apply missing:\n%.500s", resp.StatusCode, b)
		}
		return nil
	})

	cfg := api.DefaultConfig()
	cfg.Address, cfg.Token = a.httpAddr(), prodToken
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitForErr(t, 15*time.Second, "services and checks from the directory", func() error {
		svcs, err := c.Agent().Services()
		if err != nil {
			return err
		}
		if svcs["web-1"] == nil || svcs["db"] == nil {
			return fmt.Errorf("services %v", keys(svcs))
		}
		chks, err := c.Agent().Checks()
		if err != nil {
			return err
		}
		for _, id := range []string{"web-http", "service:db", "mem-util"} {
			if chks[id] == nil {
				return fmt.Errorf("check %s missing from %v", id, keys(chks))
			}
		}
		if g := chks["web-grpc"]; g == nil || g.Type != "grpc" {
			return fmt.Errorf("the gRPC check is not registered as one: %+v", g)
		}
		return nil
	})

	// session_ttl_min = 2s lets a 3s session through (Consul's 10s would not).
	if _, _, err := c.Session().Create(&api.SessionEntry{TTL: "3s", Behavior: "delete"}, nil); err != nil {
		t.Fatalf("session with TTL 3s: %v", err)
	}
	if _, _, err := c.Session().Create(&api.SessionEntry{TTL: "1s"}, nil); err == nil {
		t.Fatal("session with TTL 1s accepted below session_ttl_min")
	}

	// max_query_time caps ?wait=: a 30s blocking read returns within it.
	_, meta, err := c.KV().Get("compat/none", nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, _, err := c.KV().Get("compat/none", &api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 2*time.Second || d > 10*time.Second {
		t.Fatalf("blocking read with wait=30s took %s, want about max_query_time (3s)", d)
	}

	// FailuresBeforeCritical through /v1/agent/check/register: a passing
	// check turns critical only after three failures in a row. As in
	// Consul the first result after registration is reported at once, so
	// the server fails only once a probe has passed.
	var failing atomic.Bool
	var failHits, okHits atomic.Int32
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			failHits.Add(1)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		okHits.Add(1)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	err = c.Agent().CheckRegister(&api.AgentCheckRegistration{
		ID: "thr", Name: "thresholds",
		AgentServiceCheck: api.AgentServiceCheck{
			HTTP: "http://" + ln.Addr().String() + "/", Interval: "1s", Status: api.HealthPassing,
			SuccessBeforePassing: 1, FailuresBeforeCritical: 3,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, "check thr probed once", func() bool { return okHits.Load() > 0 })
	failing.Store(true)
	testutil.WaitForErr(t, 20*time.Second, "check thr critical", func() error {
		chks, err := c.Agent().Checks()
		if err != nil {
			return err
		}
		hits := failHits.Load()
		st := chks["thr"].Status
		if st == api.HealthCritical {
			if hits < 3 {
				t.Fatalf("critical after %d failures, want 3", hits)
			}
			return nil
		}
		if hits >= 5 {
			t.Fatalf("still %s after %d failures", st, hits)
		}
		return errNotYet
	})
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
