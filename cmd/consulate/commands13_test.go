package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
)

func TestMembersFilterIsSent(t *testing.T) {
	f := newFakeAgent(t)
	f.json("/v1/agent/members", testMembers())
	r := f.run("members", "-filter", `Tags.role == "consul"`)
	wantOK(t, r)
	if got := f.last("/v1/agent/members").get("filter"); got != `Tags.role == "consul"` {
		t.Fatalf("filter sent %q", got)
	}
}

func TestCatalogNodesFilterIsSent(t *testing.T) {
	f := newFakeAgent(t)
	f.json("/v1/catalog/nodes", []*api.Node{{Node: "a", Address: "127.0.16.9", Datacenter: "dc1"}})
	wantOK(t, f.run("catalog", "nodes", "-filter", `Node == "a"`))
	if got := f.last("/v1/catalog/nodes").get("filter"); got != `Node == "a"` {
		t.Fatalf("filter sent %q", got)
	}
}

func TestVersionJSON(t *testing.T) {
	r := runCLI(t, nil, "", "version", "-format=json")
	wantOK(t, r)
	var v struct {
		Version, Revision, Prerelease, BuildDate string
		RPC                                      struct{ Default, Min, Max int }
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if v.Version != Version || v.RPC.Default != 2 || v.RPC.Min != 2 || v.RPC.Max != 3 || v.BuildDate == "" {
		t.Fatalf("version json %+v", v)
	}
	if !strings.Contains(r.stdout, "\n    \"Version\"") {
		t.Fatalf("not indented as Consul's: %s", r.stdout)
	}
	r = runCLI(t, nil, "", "version", "-format=pretty")
	wantOK(t, r)
	if !strings.HasPrefix(r.stdout, "Consulate v") {
		t.Fatalf("pretty: %q", r.stdout)
	}
}

func TestMaintListAndToggle(t *testing.T) {
	f := newFakeAgent(t)
	f.json("/v1/agent/self", map[string]any{"Config": map[string]any{"NodeName": "n1"}})
	f.json("/v1/agent/checks", map[string]*api.AgentCheck{
		"_service_maintenance:web-1": {CheckID: "_service_maintenance:web-1", ServiceID: "web-1", Notes: "deploy"},
		"_node_maintenance":          {CheckID: "_node_maintenance", Notes: "reboot"},
		"other":                      {CheckID: "other"},
	})
	f.handle("/v1/agent/maintenance", func(w http.ResponseWriter, r *http.Request) {})
	f.handle("/v1/agent/service/maintenance/", func(w http.ResponseWriter, r *http.Request) {})

	r := f.run("maint")
	wantOK(t, r)
	want := "Node:\n  Name:   n1\n  Reason: reboot\n\nService:\n  ID:     web-1\n  Reason: deploy\n\n"
	if r.stdout != want {
		t.Fatalf("maint list %q, want %q", r.stdout, want)
	}

	r = f.run("maint", "-enable", "-reason", "patching")
	wantOK(t, r)
	if last := f.last("/v1/agent/maintenance"); last.get("enable") != "true" || last.get("reason") != "patching" {
		t.Fatalf("enable request %+v", last)
	}
	r = f.run("maint", "-disable", "-service", "web-1")
	wantOK(t, r)
	if r.stdout != "Service maintenance is now disabled for \"web-1\"\n" {
		t.Fatalf("disable output %q", r.stdout)
	}
	if last := f.last("/v1/agent/service/maintenance/web-1"); last.get("enable") != "false" {
		t.Fatalf("disable request %+v", last)
	}
}
