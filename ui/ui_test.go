package ui

import (
	"io/fs"
	"strings"
	"testing"
)

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := fs.ReadFile(FS(), name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestIndexIsEmbedded(t *testing.T) {
	index := read(t, "index.html")
	for _, want := range []string{`href="/ui/app.css"`, `src="/ui/js/app.js"`, `data-test="dc-switcher"`, `data-test="agent-unreachable"`, `<main id="main"`} {
		if !strings.Contains(index, want) {
			t.Errorf("index.html lacks %s", want)
		}
	}
	read(t, "app.css")
	read(t, "favicon.svg")
}

// TestModulesUseTheAPI checks every page module is embedded and reads the
// endpoints it is meant to, and that nothing is loaded from elsewhere.
func TestModulesUseTheAPI(t *testing.T) {
	want := map[string][]string{
		"js/app.js":        {"/v1/agent/self", "/v1/catalog/datacenters", "/v1/internal/ui/federation"},
		"js/api.js":        {"X-Consul-Index", "X-Consul-Token"},
		"js/util.js":       {"Adjustment", "Height"},
		"js/services.js":   {"/v1/internal/ui/services", "/v1/health/service/"},
		"js/nodes.js":      {"/v1/catalog/nodes", "/v1/catalog/node/", "/v1/health/node/", "/v1/coordinate/nodes"},
		"js/kv.js":         {"/v1/kv/", "cas", "recurse"},
		"js/federation.js": {"/v1/internal/ui/federation", "rtt-matrix"},
	}
	for name, subs := range want {
		src := read(t, name)
		for _, s := range subs {
			if !strings.Contains(src, s) {
				t.Errorf("%s does not use %s", name, s)
			}
		}
	}
	err := fs.WalkDir(FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(FS(), p)
		for _, bad := range []string{"http://", "https://"} {
			if strings.Contains(strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", ""), bad) {
				t.Errorf("%s refers to %s...: the UI must work offline", p, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
