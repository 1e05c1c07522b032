package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// set-config changes only the fields given, through a CAS on the index it
// read, and retries when another writer got in between.
func TestAutopilotSetConfig(t *testing.T) {
	f := newFakeAgent(t)
	var mu sync.Mutex
	stored := api.NewAutopilotConfiguration()
	stored.ModifyIndex = 7
	lost := 1 // the first CAS loses a race
	var put api.AutopilotConfiguration
	f.handle("/v1/operator/autopilot/configuration", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodGet {
			writeJSON(w, stored)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &put); err != nil || r.URL.Query().Get("cas") != "7" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if lost > 0 {
			lost--
			io.WriteString(w, "false")
			return
		}
		stored = put
		io.WriteString(w, "true")
	})
	r := f.run("operator", "autopilot", "set-config", "-cleanup-dead-servers=false", "-last-contact-threshold=300ms", "-min-quorum=3")
	wantOK(t, r)
	if r.stdout != "Configuration updated!\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	if put.CleanupDeadServers || put.LastContactThreshold.Duration() != 300*time.Millisecond || put.MinQuorum != 3 ||
		put.MaxTrailingLogs != 250 || put.ServerStabilizationTime.Duration() != 10*time.Second {
		t.Fatalf("written %+v", put)
	}

	r = f.run("operator", "autopilot", "get-config")
	wantOK(t, r)
	want := "CleanupDeadServers = false\nLastContactThreshold = 300ms\nMaxTrailingLogs = 250\nMinQuorum = 3\n" +
		"ServerStabilizationTime = 10s\nRedundancyZoneTag = \"\"\nDisableUpgradeMigration = false\nUpgradeVersionTag = \"\"\n"
	if r.stdout != want {
		t.Fatalf("get-config:\n%s\nwant:\n%s", r.stdout, want)
	}

	mu.Lock()
	lost = 10
	mu.Unlock()
	wantFail(t, f.run("operator", "autopilot", "set-config", "-max-trailing-logs=9"), 1, "could not be atomically updated")
}

func TestAutopilotStateAndTransferLeader(t *testing.T) {
	f := newFakeAgent(t)
	f.json("/v1/operator/autopilot/state", &api.AutopilotState{
		Healthy: true, FailureTolerance: 0, OptimisticFailureTolerance: 0, Leader: "id-1", Voters: []string{"id-1"},
		Servers: map[string]api.AutopilotServer{"id-1": {ID: "id-1", Name: "s1", Address: "127.0.0.11:8300", NodeStatus: "alive",
			Version: "1.16.0", LastContact: api.NewReadableDuration(0), LastTerm: 2, LastIndex: 40, Healthy: true,
			Status: api.AutopilotServerLeader, NodeType: api.AutopilotTypeVoter, Meta: map[string]string{"rack": "a"}}},
	})
	r := f.run("operator", "autopilot", "state")
	wantOK(t, r)
	for _, line := range []string{"Healthy:                      true\n", "Leader:                       id-1\n",
		"      Name:            s1\n", "      Status:          leader\n", "      Last Index:      40\n", "         \"rack\": \"a\"\n"} {
		if !strings.Contains(r.stdout, line) {
			t.Fatalf("state lacks %q:\n%s", line, r.stdout)
		}
	}
	r = f.run("operator", "autopilot", "state", "-format=json")
	wantOK(t, r)
	var st api.AutopilotState
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || st.Servers["id-1"].Name != "s1" {
		t.Fatalf("json state %v:\n%s", err, r.stdout)
	}
	wantFail(t, f.run("operator", "autopilot", "state", "-format=yaml"), 1, "Invalid format")

	f.handle("/v1/operator/raft/transfer-leader", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "want POST", http.StatusMethodNotAllowed)
			return
		}
		writeJSON(w, &api.TransferLeaderResponse{Success: true})
	})
	r = f.run("operator", "raft", "transfer-leader", "-id=abc")
	wantOK(t, r)
	if r.stdout != "Success\n" || f.last("/v1/operator/raft/transfer-leader").get("id") != "abc" {
		t.Fatalf("transfer-leader: %q %v", r.stdout, f.last("/v1/operator/raft/transfer-leader"))
	}
}
