package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/serf/coordinate"
)

func TestJoin(t *testing.T) {
	f := newFakeAgent(t)
	f.handle("/v1/agent/join/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/127.0.0.99") {
			http.Error(w, "dial tcp 127.0.0.99:8301: connection refused", http.StatusInternalServerError)
			return
		}
		if r.Method != http.MethodPut {
			http.Error(w, "want PUT", http.StatusMethodNotAllowed)
		}
	})
	r := f.run("join", "-wan", "127.0.0.11", "127.0.0.12")
	wantOK(t, r)
	if r.stdout != "Successfully joined cluster by contacting 2 nodes.\n" {
		t.Fatalf("join %q", r.stdout)
	}
	if req := f.last("/v1/agent/join/"); req.path != "/v1/agent/join/127.0.0.12" || req.get("wan") != "1" {
		t.Fatalf("join request %+v", req)
	}
	r = f.run("join", "127.0.0.99")
	wantFail(t, r, 1, "Error joining address '127.0.0.99': ")
	if !strings.Contains(r.stderr, "connection refused") || r.stdout != "" {
		t.Fatalf("join error stderr %q stdout %q", r.stderr, r.stdout)
	}
}

func TestLeaveForceLeaveReload(t *testing.T) {
	f := newFakeAgent(t)
	ok := func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut {
			http.Error(w, "want PUT", http.StatusMethodNotAllowed)
		}
	}
	f.handle("/v1/agent/leave", ok)
	f.handle("/v1/agent/reload", ok)
	f.handle("/v1/agent/force-leave/", ok)

	r := f.run("leave")
	wantOK(t, r)
	if r.stdout != "Graceful leave complete\n" {
		t.Fatalf("leave %q", r.stdout)
	}
	r = f.run("reload")
	wantOK(t, r)
	if r.stdout != "Configuration reload triggered\n" {
		t.Fatalf("reload %q", r.stdout)
	}
	wantOK(t, f.run("force-leave", "-prune", "-wan", "dead-node"))
	req := f.last("/v1/agent/force-leave/")
	if req.path != "/v1/agent/force-leave/dead-node" || !req.has("prune") || !req.has("wan") {
		t.Fatalf("force-leave request %+v", req)
	}

	f.handle("/v1/agent/self", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	wantFail(t, f.run("info"), 1, "Error querying agent")
}

func TestInfo(t *testing.T) {
	f := newFakeAgent(t)
	f.json("/v1/agent/self", map[string]any{
		"Config": map[string]any{"NodeName": "n1", "Datacenter": "dc1"},
		"Stats": map[string]any{
			"raft":     map[string]any{"state": "Leader", "applied_index": "12"},
			"agent":    map[string]any{"server": "true", "checks": "0"},
			"serf_lan": map[string]any{"members": "3"},
			"consul":   map[string]any{"leader": "true", "bootstrap": "false"},
		},
	})
	r := f.run("info")
	wantOK(t, r)
	want := "agent:\n\tchecks = 0\n\tserver = true\n" +
		"consul:\n\tbootstrap = false\n\tleader = true\n" +
		"raft:\n\tapplied_index = 12\n\tstate = Leader\n" +
		"serf_lan:\n\tmembers = 3\n"
	if r.stdout != want {
		t.Fatalf("info:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestEvent(t *testing.T) {
	f := newFakeAgent(t)
	f.json("/v1/event/fire/", &api.UserEvent{ID: "b54fe110-7af5-cafc-d1fb-afc8ba432b1c", Name: "deploy"})
	r := f.run("event", "-datacenter=dc2", "-name=deploy", "-node=web-.*", "-service=web", "-tag=v1", "payload-bytes")
	wantOK(t, r)
	if r.stdout != "Event ID: b54fe110-7af5-cafc-d1fb-afc8ba432b1c\n" {
		t.Fatalf("event %q", r.stdout)
	}
	req := f.last("/v1/event/fire/")
	if req.method != "PUT" || req.path != "/v1/event/fire/deploy" || req.get("dc") != "dc2" ||
		req.get("node") != "web-.*" || req.get("service") != "web" || req.get("tag") != "v1" || req.body != "payload-bytes" {
		t.Fatalf("event request %+v", req)
	}
	wantFail(t, f.run("event", "-name=x", "a", "b"), 1, "Too many")
}

func TestRTT(t *testing.T) {
	cfg := coordinate.DefaultConfig()
	c1 := coordinate.NewCoordinate(cfg)
	c2 := coordinate.NewCoordinate(cfg)
	c2.Vec[0] = 0.0123 // 12.3 ms apart, plus both default heights of 10µs
	f := newFakeAgent(t)
	f.json("/v1/coordinate/nodes", []*api.CoordinateEntry{
		{Node: "n1", Coord: c1}, {Node: "n2", Coord: c2},
		{Node: "seg", Segment: "alpha", Coord: c1},
		{Node: "bad", Coord: &coordinate.Coordinate{Vec: []float64{1}}},
	})
	f.json("/v1/agent/self", map[string]any{"Config": map[string]any{"NodeName": "n1", "Datacenter": "dc1"}})
	f.json("/v1/coordinate/datacenters", []*api.CoordinateDatacenterMap{
		{Datacenter: "dc1", AreaID: "wan", Coordinates: []api.CoordinateEntry{{Node: "n1", Coord: c1}}},
		{Datacenter: "dc2", AreaID: "wan", Coordinates: []api.CoordinateEntry{{Node: "s.x", Coord: c2}}},
	})
	want := fmt.Sprintf("%.3f ms", c1.DistanceTo(c2).Seconds()*1000)
	if want != "12.320 ms" {
		t.Fatalf("test coordinates give %s", want)
	}

	for _, tc := range []struct {
		name string
		args []string
		// stdout is the answer on success; fail, when set, what stderr
		// says instead (exit status 1).
		stdout, fail string
	}{
		{"two nodes", []string{"n1", "n2"}, "Estimated n1 <-> n2 rtt: 12.320 ms (using LAN coordinates)\n", ""},
		{"second node defaults to the agent", []string{"n2"}, "Estimated n2 <-> n1 rtt: 12.320 ms (using LAN coordinates)\n", ""},
		{"wan", []string{"-wan", "s.x.dc2"}, "Estimated s.x.dc2 <-> n1.dc1 rtt: 12.320 ms (using WAN coordinates)\n", ""},
		{"unknown node", []string{"n1", "ghost"}, "", `Could not find a coordinate for node "ghost"`},
		{"other segment", []string{"n1", "seg"}, "", "different areas or segments"},
		{"bad coordinate", []string{"n1", "bad"}, "", "invalid or incompatible"},
		{"wan name without dc", []string{"-wan", "nodot", "n1.dc1"}, "", "<node name>.<datacenter>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.run(append([]string{"rtt"}, tc.args...)...)
			if tc.fail != "" {
				wantFail(t, r, 1, tc.fail)
				return
			}
			wantOK(t, r)
			if r.stdout != tc.stdout {
				t.Fatalf("stdout %q, want %q", r.stdout, tc.stdout)
			}
		})
	}
}

func TestServicesRegisterDeregister(t *testing.T) {
	f := newFakeAgent(t)
	var regs []map[string]any
	f.handle("/v1/agent/service/register", func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		regs = append(regs, m)
		f.mu.Unlock()
	})
	f.handle("/v1/agent/service/deregister/", func(w http.ResponseWriter, r *http.Request) {})

	r := f.run("services", "register", "-name=web", "-id=web-1", "-port=8080", "-tag=v1", "-tag=primary", "-meta=team=core")
	wantOK(t, r)
	if r.stdout != "Registered service: web\n" {
		t.Fatalf("register %q", r.stdout)
	}
	got := regs[0]
	if got["Name"] != "web" || got["ID"] != "web-1" || got["Port"] != float64(8080) ||
		fmt.Sprint(got["Tags"]) != "[v1 primary]" || fmt.Sprint(got["Meta"]) != "map[team:core]" {
		t.Fatalf("register body %v", got)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "svc.json")
	def := `{"services": [
	  {"name": "db", "id": "db-1", "port": 5432, "enable_tag_override": true,
	   "meta": {"schema_version": "3"},
	   "tagged_addresses": {"lan_ipv4": {"address": "127.0.0.11", "port": 5432}},
	   "check": {"id": "db-tcp", "tcp": "127.0.0.11:5432", "interval": "10s",
	             "deregister_critical_service_after": "1m"}},
	  {"name": "cache", "checks": [{"args": ["/bin/true"], "interval": "5s"}]}
	]}`
	if err := os.WriteFile(file, []byte(def), 0o600); err != nil {
		t.Fatal(err)
	}
	r = f.run("services", "register", file)
	wantOK(t, r)
	if r.stdout != "Registered service: db\nRegistered service: cache\n" {
		t.Fatalf("register file %q", r.stdout)
	}
	db, cache := regs[1], regs[2]
	check, _ := db["Check"].(map[string]any)
	tagged, _ := db["TaggedAddresses"].(map[string]any)
	meta, _ := db["Meta"].(map[string]any)
	if db["EnableTagOverride"] != true || check["CheckID"] != "db-tcp" || check["TCP"] != "127.0.0.11:5432" ||
		check["DeregisterCriticalServiceAfter"] != "1m" || tagged["lan_ipv4"] == nil || meta["schema_version"] != "3" {
		t.Fatalf("db body %v", db)
	}
	checks, _ := cache["Checks"].([]any)
	if len(checks) != 1 || fmt.Sprint(checks[0].(map[string]any)["ScriptArgs"]) != "[/bin/true]" {
		t.Fatalf("cache body %v", cache)
	}

	r = f.run("services", "deregister", file)
	wantOK(t, r)
	if r.stdout != "Deregistered service: db-1\nDeregistered service: cache\n" {
		t.Fatalf("deregister file %q", r.stdout)
	}
	r = f.run("services", "deregister", "-id=web-1")
	wantOK(t, r)
	if req := f.last("/v1/agent/service/deregister/"); req.path != "/v1/agent/service/deregister/web-1" || req.method != "PUT" {
		t.Fatalf("deregister request %+v", req)
	}

	bad := filepath.Join(dir, "bad.json")
	for _, c := range []struct{ body, want string }{
		{`{"service": {"name": "x", "prot": 1}}`, `unknown field "prot"`},
		{`{"service": {"port": 1}}`, `missing "name"`},
		{`{"svc": {}}`, `unexpected top-level key "svc"`},
		{`[1]`, "want a JSON object"},
		{`{`, "invalid JSON"},
	} {
		if err := os.WriteFile(bad, []byte(c.body), 0o600); err != nil {
			t.Fatal(err)
		}
		wantFail(t, f.run("services", "register", bad), 1, c.want)
	}
	wantFail(t, f.run("services", "register", filepath.Join(dir, "missing.json")), 1, "Failed to read")
	wantFail(t, f.run("services", "register", "-port=1"), 1, "-name is required")
	wantFail(t, f.run("services", "register", "-name=x", file), 1, "not both")
	wantFail(t, f.run("services", "deregister"), 1, "Give -id")
}
