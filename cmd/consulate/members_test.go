package main

import (
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
)

func testMembers() []*api.AgentMember {
	return []*api.AgentMember{
		{Name: "web-1", Addr: "127.0.0.13", Port: 8301, Status: 1,
			Tags: map[string]string{"role": "node", "dc": "dc1", "build": "0.1.0:abcdef", "vsn": "2"}},
		{Name: "server-b", Addr: "127.0.0.12", Port: 8301, Status: 4,
			Tags: map[string]string{"role": "consul", "dc": "dc1", "build": "0.1.0", "vsn": "3", "port": "8300"}},
		{Name: "server-a", Addr: "127.0.0.11", Port: 8301, Status: 1,
			Tags: map[string]string{"role": "consul", "dc": "dc1", "build": "0.1.0:1234", "vsn": "3"}},
	}
}

func TestMembersColumns(t *testing.T) {
	f := newFakeAgent(t)
	f.json("/v1/agent/members", testMembers())

	r := f.run("members")
	wantOK(t, r)
	want := "" +
		"Node      Address          Status  Type    Build  Protocol  DC   Partition  Segment\n" +
		"server-a  127.0.0.11:8301  alive   server  0.1.0  3         dc1  default    <all>\n" +
		"server-b  127.0.0.12:8301  failed  server  0.1.0  3         dc1  default    <all>\n" +
		"web-1     127.0.0.13:8301  alive   client  0.1.0  2         dc1  default    <default>\n"
	if r.stdout != want {
		t.Fatalf("members output:\n%s\nwant:\n%s", r.stdout, want)
	}
	if f.last("/v1/agent/members").has("wan") {
		t.Fatal("LAN members sent ?wan")
	}
}

func TestMembersFlags(t *testing.T) {
	f := newFakeAgent(t)
	f.json("/v1/agent/members", testMembers())

	r := f.run("members", "-wan", "-status=failed")
	wantOK(t, r)
	got := lines(r.stdout)
	if len(got) != 2 || fields(got[1])[0] != "server-b" {
		t.Fatalf("-status=failed output %q", r.stdout)
	}
	if f.last("/v1/agent/members").get("wan") != "1" {
		t.Fatalf("-wan not sent: %v", f.last("/v1/agent/members").query)
	}

	r = f.run("members", "-detailed", "-status", "alive")
	wantOK(t, r)
	got = lines(r.stdout)
	if fields(got[0])[3] != "Tags" || len(got) != 3 {
		t.Fatalf("detailed output %q", r.stdout)
	}
	if !strings.HasSuffix(got[1], "build=0.1.0:1234,dc=dc1,role=consul,vsn=3") {
		t.Fatalf("detailed tags not sorted k=v: %q", got[1])
	}

	// Consul's exit status when the filter matches nothing.
	r = f.run("members", "-status=left")
	if r.code != 2 || r.stdout != "" {
		t.Fatalf("empty filter: exit %d stdout %q", r.code, r.stdout)
	}

	r = f.run("members", "-status=(")
	wantFail(t, r, 1, "Failed to compile status regexp")
}

func TestColumnize(t *testing.T) {
	got := columnize([][]string{{"a", "bbb", "c"}, {"dddd", "e", ""}, {"f"}})
	want := "a     bbb  c\ndddd  e    \nf\n"
	if got != want {
		t.Fatalf("columnize = %q, want %q", got, want)
	}
}
