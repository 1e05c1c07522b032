package structs

import (
	"maps"
	"testing"
)

func TestParseServer(t *testing.T) {
	good := Member{Name: "s", Addr: "10.0.0.1", Status: StatusAlive, Tags: map[string]string{
		"role": "consul", "port": "8300", "dc": "dc1", "id": "x", "expect": "3", "bootstrap": "1",
		"build": "1.2.3", "raft_vsn": "3", "wan_join_port": "8302", "segment": ""}}
	s, ok := ParseServer(good)
	want := ServerInfo{Name: "s", ID: "x", Datacenter: "dc1", Addr: "10.0.0.1:8300", Port: 8300, Expect: 3,
		Bootstrap: true, Build: "1.2.3", RaftVersion: 3, WANJoinPort: 8302, Status: StatusAlive}
	if !ok || s != want {
		t.Errorf("ParseServer(good) = %+v %v, want %+v", s, ok, want)
	}
	for _, tc := range []struct {
		name string
		tags map[string]string
	}{
		{"client", map[string]string{"role": "node", "port": "8300"}},
		{"no port", map[string]string{"role": "consul"}},
		{"bad port", map[string]string{"role": "consul", "port": "x"}},
		{"big port", map[string]string{"role": "consul", "port": "70000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := ParseServer(Member{Name: tc.name, Addr: "10.0.0.1", Tags: tc.tags}); ok {
				t.Errorf("reported as server")
			}
		})
	}
}

// TestMemberTagsRoundTrip checks that what Tags writes ParseServer reads,
// and that extra tags survive without being changed in place.
func TestMemberTagsRoundTrip(t *testing.T) {
	extra := map[string]string{"custom": "v"}
	mt := MemberTags{Datacenter: "dc2", NodeID: "id-1", Build: "0.1", Server: true, ServerPort: 8300,
		RaftVersion: 3, BootstrapExpect: 3, WANJoinPort: 8302}
	tags := mt.Tags(extra)
	if !maps.Equal(extra, map[string]string{"custom": "v"}) {
		t.Fatalf("extra changed: %v", extra)
	}
	if tags["custom"] != "v" || tags[TagRole] != RoleServer || tags[TagVsn] != "2" {
		t.Fatalf("tags = %v", tags)
	}
	s, ok := ParseServer(Member{Name: "n.dc2", Addr: "127.0.0.1", Tags: tags})
	if !ok || s.Datacenter != "dc2" || s.ID != "id-1" || s.Expect != 3 || s.WANJoinPort != 8302 || s.Bootstrap {
		t.Fatalf("parsed %+v %v", s, ok)
	}
	client := MemberTags{Datacenter: "dc1", NodeID: "c", ServerPort: 8300}.Tags(nil)
	if client[TagRole] != RoleClient || client[TagPort] != "" {
		t.Fatalf("client tags = %v", client)
	}
}
