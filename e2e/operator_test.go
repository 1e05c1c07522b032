package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/internal/testutil"
)

// TestOperatorAutopilot runs autopilot, leadership transfer and `operator
// wan` against three servers and a client, through the official client and
// the CLI, asking the client agent (which forwards to the servers).
func TestOperatorAutopilot(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "autopilot.json")
	if err := os.WriteFile(cfgFile, []byte(`{"autopilot": {"max_trailing_logs": 300, "last_contact_threshold": "1s", "upgrade_version_tag": "build"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ips := []string{"127.0.17.1", "127.0.17.2", "127.0.17.3"}
	servers := startDC(t, "dc1", ips, "-config-file", cfgFile)
	client := startAgent(t, "op-c1", "127.0.17.4", "-join", ips[0])
	client.waitHTTP(15 * time.Second)
	client.waitLeader(15 * time.Second)
	c := client.client()
	op := c.Operator()
	addr := "--http-addr=" + client.httpAddr()

	// The leader seeded the configuration from the servers' config.
	var conf *api.AutopilotConfiguration
	testutil.WaitForErr(t, 10*time.Second, "the autopilot configuration", func() error {
		var err error
		conf, err = op.AutopilotGetConfiguration(nil)
		return err
	})
	if !conf.CleanupDeadServers || conf.MaxTrailingLogs != 300 || conf.LastContactThreshold.Duration() != time.Second ||
		conf.ServerStabilizationTime.Duration() != 10*time.Second || conf.UpgradeVersionTag != "build" || conf.ModifyIndex == 0 {
		t.Fatalf("seeded configuration %+v", conf)
	}
	stale := *conf
	conf.MinQuorum = 2
	if ok, err := op.AutopilotCASConfiguration(conf, nil); err != nil || !ok {
		t.Fatalf("CAS with the current index: %v %v", ok, err)
	}
	if ok, err := op.AutopilotCASConfiguration(&stale, nil); err != nil || ok {
		t.Fatalf("CAS with a stale index: %v %v", ok, err)
	}
	out, err := cli(t, "operator", "autopilot", "set-config", addr, "-cleanup-dead-servers=false", "-max-trailing-logs=500")
	if err != nil || out != "Configuration updated!\n" {
		t.Fatalf("set-config: %v\n%s", err, out)
	}
	out, err = cli(t, "operator", "autopilot", "get-config", addr)
	want := "CleanupDeadServers = false\nLastContactThreshold = 1s\nMaxTrailingLogs = 500\nMinQuorum = 2\n" +
		"ServerStabilizationTime = 10s\nRedundancyZoneTag = \"\"\nDisableUpgradeMigration = false\nUpgradeVersionTag = \"build\"\n"
	if err != nil || out != want {
		t.Fatalf("get-config: %v\n%s\nwant:\n%s", err, out, want)
	}

	// Health: three healthy servers.
	testutil.WaitForErr(t, 15*time.Second, "three healthy servers", func() error {
		h, err := op.AutopilotServerHealth(nil)
		if err != nil {
			return err
		}
		if !h.Healthy || h.FailureTolerance != 1 || len(h.Servers) != 3 {
			return fmt.Errorf("health %+v", h)
		}
		for _, s := range h.Servers {
			if s.SerfStatus != "alive" || !s.Voter || s.Name == "" || s.Version == "" {
				return fmt.Errorf("server %+v", s)
			}
		}
		return nil
	})
	out, err = cli(t, "operator", "autopilot", "state", addr)
	if err != nil || !strings.Contains(out, "Healthy:                      true\n") || strings.Count(out, "Node Status:     alive") != 3 {
		t.Fatalf("state: %v\n%s", err, out)
	}
	out, err = cli(t, "operator", "autopilot", "state", addr, "-format=json")
	var st api.AutopilotState
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || len(st.Servers) != 3 || len(st.Voters) != 3 || st.Servers[st.Leader].Status != api.AutopilotServerLeader {
		t.Fatalf("state json: %v\n%s", err, out)
	}

	// operator wan on the client agent.
	resp, err := http.Get("http://" + client.httpAddr() + "/v1/operator/wan")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/v1/operator/wan on a client: %v %v", resp, err)
	}
	resp.Body.Close()
	out, err = cli(t, "operator", "wan", addr)
	if err != nil || !strings.Contains(out, "dc1") || !strings.Contains(out, "healthy") {
		t.Fatalf("operator wan on a client: %v\n%s", err, out)
	}

	// transfer-leader: to anyone, then to a given server.
	leaderAddr := servers[0].waitLeader(10 * time.Second)
	out, err = cli(t, "operator", "raft", "transfer-leader", addr)
	if err != nil || out != "Success\n" {
		t.Fatalf("transfer-leader: %v\n%s", err, out)
	}
	testutil.WaitForErr(t, 10*time.Second, "a new leader", func() error {
		l, err := c.Status().Leader()
		if err != nil || l == "" || l == leaderAddr {
			return fmt.Errorf("leader %q %v", l, err)
		}
		return nil
	})
	raftConf, err := op.RaftGetConfiguration(nil)
	if err != nil {
		t.Fatal(err)
	}
	var target *api.RaftServer
	for _, s := range raftConf.Servers {
		if !s.Leader {
			target = s
		}
	}
	out, err = cli(t, "operator", "raft", "transfer-leader", addr, "-id", target.ID)
	if err != nil || out != "Success\n" {
		t.Fatalf("transfer-leader -id: %v\n%s", err, out)
	}
	testutil.WaitForErr(t, 10*time.Second, "the chosen leader", func() error {
		if l, err := c.Status().Leader(); err != nil || l != target.Address {
			return fmt.Errorf("leader %q (want %s) %v", l, target.Address, err)
		}
		return nil
	})
	if out, err := cli(t, "operator", "raft", "transfer-leader", addr, "-id", "no-such-id"); err == nil {
		t.Fatalf("transfer to an unknown id succeeded:\n%s", out)
	}

	// Stop a follower: health turns unhealthy (HTTP 429), naming it.
	var victim *agentProc
	for _, s := range servers {
		if s.ip+":8300" != target.Address {
			victim = s
			break
		}
	}
	victim.kill()
	testutil.WaitForErr(t, 20*time.Second, "one unhealthy server", func() error {
		h, err := op.AutopilotServerHealth(nil)
		if err != nil {
			return err
		}
		var bad []string
		for _, s := range h.Servers {
			if !s.Healthy {
				bad = append(bad, s.Name)
			}
		}
		if h.Healthy || h.FailureTolerance != 0 || len(bad) != 1 || bad[0] != victim.name {
			return fmt.Errorf("healthy %v tolerance %d unhealthy %v", h.Healthy, h.FailureTolerance, bad)
		}
		return nil
	})
	resp, err = http.Get("http://" + client.httpAddr() + "/v1/operator/autopilot/health")
	if err != nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("health of an unhealthy cluster: %v %v", resp, err)
	}
	resp.Body.Close()
}
