package main

import (
	"net/http"
	"strings"
	"testing"
)

func TestKeyringListOutput(t *testing.T) {
	f := newFakeAgent(t)
	f.handle("/v1/operator/keyring", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusOK)
			return
		}
		writeJSON(w, []map[string]any{
			{"WAN": true, "Datacenter": "dc1", "Segment": "", "Keys": map[string]int{"K2": 2, "K1": 2}, "PrimaryKeys": map[string]int{"K1": 2}, "NumNodes": 2},
			{"WAN": false, "Datacenter": "dc1", "Segment": "", "Keys": map[string]int{"K1": 3}, "PrimaryKeys": map[string]int{"K1": 3}, "NumNodes": 3,
				"Messages": map[string]string{"n3": "some note"}},
		})
	})
	r := f.run("keyring", "-list")
	want := "==> Gathering installed encryption keys...\n\nWAN:\n  K1 [2/2]\n  K2 [2/2]\n\ndc1 (LAN):\n  ===> n3: some note\n  K1 [3/3]\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	r = f.run("keyring", "-list-primary", "-local-only", "-relay-factor=2")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "==> Gathering installed primary encryption keys...\n\nWAN:\n  K1 [2/2]\n") {
		t.Fatalf("exit %d stdout %q", r.code, r.stdout)
	}
	if req := f.last("/v1/operator/keyring"); req.get("local-only") != "true" || req.get("relay-factor") != "2" {
		t.Fatalf("list query %v", req.query)
	}
	for _, tc := range []struct{ flag, method, out string }{
		{"-install=K3", http.MethodPost, "==> Installing new gossip encryption key...\n"},
		{"-use=K3", http.MethodPut, "==> Changing primary gossip encryption key...\n"},
		{"-remove=K1", http.MethodDelete, "==> Removing gossip encryption key...\n"},
	} {
		r := f.run("keyring", tc.flag)
		req := f.last("/v1/operator/keyring")
		if r.code != 0 || r.stdout != tc.out || req.method != tc.method || !strings.Contains(req.body, `"Key":"K`) {
			t.Fatalf("%s: exit %d stdout %q req %+v", tc.flag, r.code, r.stdout, req)
		}
	}
}

func TestKeyringErrorExitsOne(t *testing.T) {
	f := newFakeAgent(t)
	f.handle("/v1/operator/keyring", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "1 error(s) occurred:\n\t* dc1 (LAN) error: 1/3 nodes reported failure", http.StatusInternalServerError)
	})
	r := f.run("keyring", "-remove=K1")
	if r.code != 1 || !strings.Contains(r.stderr, "1/3 nodes reported failure") {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
}
