package main

import (
	"net/http"
	"testing"

	"github.com/hashicorp/consul/api"
)

func TestRaftListPeers(t *testing.T) {
	f := newFakeAgent(t)
	f.json("/v1/operator/raft/configuration", &api.RaftConfiguration{
		Servers: []*api.RaftServer{
			{ID: "11111111-aaaa", Node: "s1", Address: "127.0.0.11:8300", Leader: true, Voter: true, ProtocolVersion: "3"},
			{ID: "22222222-bbbb", Node: "server-two", Address: "127.0.0.12:8300", Voter: false, ProtocolVersion: "3"},
		},
		Index: 5,
	})
	r := f.run("operator", "raft", "list-peers", "-stale", "-datacenter=dc2")
	wantOK(t, r)
	want := "" +
		"Node        ID             Address          State     Voter  RaftProtocol\n" +
		"s1          11111111-aaaa  127.0.0.11:8300  leader    true   3\n" +
		"server-two  22222222-bbbb  127.0.0.12:8300  follower  false  3\n"
	if r.stdout != want {
		t.Fatalf("list-peers:\n%s\nwant:\n%s", r.stdout, want)
	}
	req := f.last("/v1/operator/raft/configuration")
	if !req.has("stale") || req.get("dc") != "dc2" {
		t.Fatalf("params %v", req.query)
	}
}

func TestRaftRemovePeer(t *testing.T) {
	f := newFakeAgent(t)
	f.handle("/v1/operator/raft/peer", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodDelete {
			http.Error(w, "want DELETE", http.StatusMethodNotAllowed)
		}
	})
	r := f.run("operator", "raft", "remove-peer", "-address=127.0.0.12:8300")
	wantOK(t, r)
	if r.stdout != "Removed peer with address \"127.0.0.12:8300\"\n" || f.last("/v1/operator/raft/peer").get("address") != "127.0.0.12:8300" {
		t.Fatalf("stdout %q req %v", r.stdout, f.last("/v1/operator/raft/peer"))
	}
	r = f.run("operator", "raft", "remove-peer", "-id=abc")
	wantOK(t, r)
	if f.last("/v1/operator/raft/peer").get("id") != "abc" {
		t.Fatal("id not sent")
	}
	before := f.count()
	wantFail(t, f.run("operator", "raft", "remove-peer"), 1, "address or id is required")
	wantFail(t, f.run("operator", "raft", "remove-peer", "-id=a", "-address=b"), 1, "cannot give both")
	if f.count() != before {
		t.Fatal("invalid invocations reached the agent")
	}
}
