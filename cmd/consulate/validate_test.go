package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidate covers `consulate validate`: Consul's wording and exit
// codes for a valid directory (with its warnings), -quiet, a bad file and
// missing arguments.
func TestValidate(t *testing.T) {
	prod := filepath.Join("..", "..", "config", "testdata", "consul-prod")
	r := runCLI(t, nil, "", "validate", prod)
	wantOK(t, r)
	if r.stdout != "Configuration is valid!\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
	if !strings.Contains(r.stderr, "server.hcl: connect.enabled: accepted but has no effect in Consulate") {
		t.Fatalf("warnings not printed: %q", r.stderr)
	}

	r = runCLI(t, nil, "", "validate", "-quiet", prod)
	wantOK(t, r)
	if r.stdout != "" || r.stderr != "" {
		t.Fatalf("-quiet printed %q / %q", r.stdout, r.stderr)
	}

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"data_dir": "/tmp/x", "ports": {"http": "eighty"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	wantFail(t, runCLI(t, nil, "", "validate", bad), 1, "Config validation failed: config: "+bad+": ports.http: expected a number")

	cloud := filepath.Join(dir, "cloud.hcl")
	if err := os.WriteFile(cloud, []byte("data_dir = \"/tmp/x\"\nretry_join = [\"provider=aws tag_key=consul tag_value=server\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantFail(t, runCLI(t, nil, "", "validate", cloud), 1, `cloud auto-join is not available in Consulate (provider "aws"`)

	// A file without .json/.hcl is read in the forced format.
	conf := filepath.Join(dir, "agent.conf")
	if err := os.WriteFile(conf, []byte(`{"data_dir": "/tmp/x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	wantOK(t, runCLI(t, nil, "", "validate", "-config-format=json", conf))
	wantFail(t, runCLI(t, nil, "", "validate", "-config-format=yaml", conf), 1, "-config-format must be either 'hcl' or 'json'")
	wantFail(t, runCLI(t, nil, "", "validate"), 1, "Must specify at least one config file or directory")
}
