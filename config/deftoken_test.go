package config

import (
	"strings"
	"testing"
)

// TestDefinitionTokensLoad: a service's and a standalone check's `token`
// are kept (anti-entropy syncs them with it), with no warning; a token on
// a check inside a service is dropped with one, since the service's
// applies (as in Consul). No warning shows a secret.
func TestDefinitionTokensLoad(t *testing.T) {
	rt, err := Load(LoadOpts{Sources: []Source{data("t.hcl", `
data_dir = "/tmp/x"
service {
  name  = "web"
  token = "svc-secret"
  check = { ttl = "10s", token = "nested-secret" }
}
check {
  name  = "disk"
  ttl   = "30s"
  token = "chk-secret"
}`)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rt.Services) != 1 || rt.Services[0].Token != "svc-secret" || rt.Services[0].Check == nil || rt.Services[0].Check.Token != "" {
		t.Fatalf("services %+v", rt.Services)
	}
	if len(rt.Checks) != 1 || rt.Checks[0].Token != "chk-secret" {
		t.Fatalf("checks %+v", rt.Checks)
	}
	nested := 0
	for _, w := range rt.Warnings {
		if strings.Contains(w, "secret") {
			t.Errorf("a warning shows a token: %q", w)
		}
		if strings.Contains(w, "check.token") && strings.Contains(w, "the service's token") {
			nested++
		}
		if strings.Contains(w, "service.token") || strings.Contains(w, "check.token") && !strings.Contains(w, "the service's token") {
			t.Errorf("unexpected warning %q", w)
		}
	}
	if nested != 1 {
		t.Errorf("want one warning for the nested check's token, got %q", rt.Warnings)
	}
}
