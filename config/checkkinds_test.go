package config

import (
	"strings"
	"testing"
)

// TestCheckKindsLoad: every check kind Consul runs loads from a config
// file into the definition the runners take; Docker loads with a warning.
func TestCheckKindsLoad(t *testing.T) {
	rt, err := Load(LoadOpts{Sources: []Source{data("k.hcl", `
data_dir = "/tmp/x"
service {
  name = "web"
  checks = [
    { id = "u", udp = "127.0.0.1:53", interval = "10s", timeout = "2s" },
    { id = "h", h2ping = "127.0.0.1:8443", interval = "10s", tls_server_name = "web", tls_skip_verify = true },
    { id = "h2c", h2ping = "127.0.0.1:8080", h2ping_use_tls = false, interval = "10s" },
    { id = "g", grpc = "127.0.0.1:9090/web", grpc_use_tls = true, interval = "10s" },
    { id = "o", os_service = "nginx", interval = "10s" },
    { id = "a", alias_service = "db", alias_node = "n2" },
    { id = "d", docker_container_id = "f972c95ebf0e", shell = "/bin/sh", args = ["true"], interval = "10s" },
  ]
}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rt.Services) != 1 || len(rt.Services[0].Checks) != 7 {
		t.Fatalf("services %+v", rt.Services)
	}
	kinds := map[string]string{}
	for _, c := range rt.Services[0].Checks {
		kinds[c.CheckID] = c.Kind()
	}
	want := map[string]string{"u": "udp", "h": "h2ping", "h2c": "h2ping", "g": "grpc", "o": "os_service", "a": "alias", "d": "docker"}
	for id, k := range want {
		if kinds[id] != k {
			t.Errorf("%s: kind %q, want %q", id, kinds[id], k)
		}
	}
	cs := rt.Services[0].Checks
	if !cs[1].H2PingUseTLS || cs[2].H2PingUseTLS || !cs[3].GRPCUseTLS || cs[5].AliasNode != "n2" || cs[5].AliasService != "db" ||
		cs[6].Shell != "/bin/sh" || cs[1].TLSServerName != "web" || !cs[1].TLSSkipVerify {
		t.Errorf("fields lost: %+v", cs)
	}
	var docker int
	for _, w := range rt.Warnings {
		if strings.Contains(w, "docker_container_id") && strings.Contains(w, "stays critical") {
			docker++
		}
	}
	if docker != 1 {
		t.Errorf("want one Docker warning, got %q", rt.Warnings)
	}

	for name, body := range map[string]string{
		"udp no port":  `check { name = "x", udp = "host", interval = "1s" }`,
		"grpc no port": `check { name = "x", grpc = "host/svc", interval = "1s" }`,
		"udp no iv":    `check { name = "x", udp = "h:1" }`,
		"two kinds":    `check { name = "x", udp = "h:1", alias_service = "db", interval = "1s" }`,
	} {
		if _, err := Load(LoadOpts{Sources: []Source{data("e.hcl", `data_dir = "/tmp/x"`+"\n"+body)}}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestDockerCheckNeedsArgs: as in Consul, docker_container_id runs args
// or script in the container; without either the file is refused.
func TestDockerCheckNeedsArgs(t *testing.T) {
	_, err := Load(LoadOpts{
		Sources: []Source{{Kind: SourceData, Path: "d.hcl", Data: []byte(`enable_local_script_checks = true
check { id = "d", name = "d", docker_container_id = "f972c95ebf0e", interval = "10s" }
`)}},
		Flags: &Config{DataDir: ptr(t.TempDir()), NodeName: ptr("n")},
	})
	if err == nil || !strings.Contains(err.Error(), "docker_container_id needs args or script") {
		t.Fatalf("docker check without args: %v", err)
	}
}
