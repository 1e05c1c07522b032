package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// aclStore is an in-memory /v1/acl API on the fake agent: enough to run
// every acl command against it.
type aclStore struct {
	mu        sync.Mutex
	seq       int
	tokens    map[string]*api.ACLToken
	policies  map[string]*api.ACLPolicy
	roles     map[string]*api.ACLRole
	agentTok  map[string]string
	reqTokens []string // X-Consul-Token of each request, in order
}

func (s *aclStore) id() string {
	s.seq++
	return fmt.Sprintf("%08d-0000-0000-0000-000000000000", s.seq)
}

var created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newACLFake(t *testing.T) (*fakeAgent, *aclStore) {
	f := newFakeAgent(t)
	s := &aclStore{tokens: map[string]*api.ACLToken{}, policies: map[string]*api.ACLPolicy{},
		roles: map[string]*api.ACLRole{}, agentTok: map[string]string{}}
	decode := func(r *http.Request, v any) { _ = json.NewDecoder(r.Body).Decode(v) }
	f.handle("/v1/", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.reqTokens = append(s.reqTokens, r.Header.Get("X-Consul-Token"))
		p := r.URL.Path
		switch {
		case p == "/v1/acl/bootstrap":
			tok := &api.ACLToken{AccessorID: s.id(), SecretID: "root-secret", Description: "Bootstrap Token (Global Management)",
				Policies: []*api.ACLLink{{ID: "00000000-0000-0000-0000-000000000001", Name: "global-management"}}, CreateTime: created}
			s.tokens[tok.AccessorID] = tok
			writeJSON(w, tok)
		case p == "/v1/acl/policy" || (strings.HasPrefix(p, "/v1/acl/policy/") && r.Method == http.MethodPut):
			var pol api.ACLPolicy
			decode(r, &pol)
			if pol.ID == "" {
				pol.ID = s.id()
			}
			s.policies[pol.ID] = &pol
			writeJSON(w, pol)
		case strings.HasPrefix(p, "/v1/acl/policy/name/"):
			for _, pol := range s.policies {
				if pol.Name == strings.TrimPrefix(p, "/v1/acl/policy/name/") {
					writeJSON(w, pol)
					return
				}
			}
			http.Error(w, "ACL not found", http.StatusForbidden)
		case strings.HasPrefix(p, "/v1/acl/policy/"):
			id := strings.TrimPrefix(p, "/v1/acl/policy/")
			pol := s.policies[id]
			if pol == nil {
				http.Error(w, "ACL not found", http.StatusForbidden)
				return
			}
			if r.Method == http.MethodDelete {
				delete(s.policies, id)
				writeJSON(w, true)
				return
			}
			writeJSON(w, pol)
		case p == "/v1/acl/policies":
			var out []*api.ACLPolicyListEntry
			for _, pol := range s.policies {
				out = append(out, &api.ACLPolicyListEntry{ID: pol.ID, Name: pol.Name, Description: pol.Description, Datacenters: pol.Datacenters})
			}
			writeJSON(w, out)
		case p == "/v1/acl/token" || (strings.HasPrefix(p, "/v1/acl/token/") && r.Method == http.MethodPut && !strings.HasSuffix(p, "/clone")):
			var tok api.ACLToken
			decode(r, &tok)
			if tok.AccessorID == "" {
				tok.AccessorID = s.id()
			}
			if tok.SecretID == "" {
				tok.SecretID = "secret-" + tok.AccessorID
			}
			tok.CreateTime = created
			s.tokens[tok.AccessorID] = &tok
			writeJSON(w, tok)
		case strings.HasSuffix(p, "/clone"):
			orig := s.tokens[strings.TrimSuffix(strings.TrimPrefix(p, "/v1/acl/token/"), "/clone")]
			var body struct{ Description string }
			decode(r, &body)
			c := *orig
			c.AccessorID, c.SecretID, c.Description = s.id(), "cloned-secret", body.Description
			s.tokens[c.AccessorID] = &c
			writeJSON(w, c)
		case p == "/v1/acl/token/self":
			for _, tok := range s.tokens {
				if tok.SecretID == r.Header.Get("X-Consul-Token") {
					writeJSON(w, tok)
					return
				}
			}
			http.Error(w, "ACL not found", http.StatusForbidden)
		case strings.HasPrefix(p, "/v1/acl/token/"):
			id := strings.TrimPrefix(p, "/v1/acl/token/")
			tok := s.tokens[id]
			if tok == nil {
				http.Error(w, "ACL not found", http.StatusForbidden)
				return
			}
			if r.Method == http.MethodDelete {
				delete(s.tokens, id)
				writeJSON(w, true)
				return
			}
			writeJSON(w, tok)
		case p == "/v1/acl/tokens":
			var out []*api.ACLTokenListEntry
			for _, tok := range s.tokens {
				out = append(out, &api.ACLTokenListEntry{AccessorID: tok.AccessorID, SecretID: tok.SecretID,
					Description: tok.Description, Policies: tok.Policies, CreateTime: tok.CreateTime})
			}
			writeJSON(w, out)
		case p == "/v1/acl/role" || (strings.HasPrefix(p, "/v1/acl/role/") && r.Method == http.MethodPut):
			var ro api.ACLRole
			decode(r, &ro)
			if ro.ID == "" {
				ro.ID = s.id()
			}
			s.roles[ro.ID] = &ro
			writeJSON(w, ro)
		case strings.HasPrefix(p, "/v1/acl/role/name/"):
			for _, ro := range s.roles {
				if ro.Name == strings.TrimPrefix(p, "/v1/acl/role/name/") {
					writeJSON(w, ro)
					return
				}
			}
			w.WriteHeader(http.StatusNotFound)
		case strings.HasPrefix(p, "/v1/acl/role/"):
			id := strings.TrimPrefix(p, "/v1/acl/role/")
			ro := s.roles[id]
			if ro == nil {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			if r.Method == http.MethodDelete {
				delete(s.roles, id)
				writeJSON(w, true)
				return
			}
			writeJSON(w, ro)
		case p == "/v1/acl/roles":
			out := []*api.ACLRole{}
			for _, ro := range s.roles {
				out = append(out, ro)
			}
			writeJSON(w, out)
		case strings.HasPrefix(p, "/v1/agent/token/"):
			var body api.AgentToken
			decode(r, &body)
			s.agentTok[strings.TrimPrefix(p, "/v1/agent/token/")] = body.Token
		default:
			http.NotFound(w, r)
		}
	})
	return f, s
}

func TestACLBootstrapAndTokenOutput(t *testing.T) {
	f, s := newACLFake(t)
	r := f.run("acl", "bootstrap")
	wantOK(t, r)
	want := "AccessorID:       00000001-0000-0000-0000-000000000000\n" +
		"SecretID:         root-secret\n" +
		"Description:      Bootstrap Token (Global Management)\n" +
		"Local:            false\n" +
		"Create Time:      2026-01-02 03:04:05 +0000 UTC\n" +
		"Policies:\n" +
		"   00000000-0000-0000-0000-000000000001 - global-management\n"
	if r.stdout != want {
		t.Fatalf("bootstrap output:\n%s\nwant:\n%s", r.stdout, want)
	}

	// Policy create with rules from a file, then by prefix and by name.
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.hcl")
	if err := os.WriteFile(rulesFile, []byte(`key_prefix "" { policy = "read" }`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"CONSULATE_HTTP_ADDR": f.addr(), "CONSUL_HTTP_TOKEN": "root-secret"}
	r = runCLI(t, env, "", "acl", "policy", "create", "-name", "kv-read", "-description", "reads", "-rules", "@"+rulesFile, "-valid-datacenter", "dc1")
	wantOK(t, r)
	wantPol := "ID:           00000002-0000-0000-0000-000000000000\nName:         kv-read\nDescription:  reads\nDatacenters:  dc1\nRules:\nkey_prefix \"\" { policy = \"read\" }\n"
	if r.stdout != wantPol {
		t.Fatalf("policy create:\n%s", r.stdout)
	}
	s.mu.Lock()
	lastTok := s.reqTokens[len(s.reqTokens)-1]
	s.mu.Unlock()
	if lastTok != "root-secret" {
		t.Fatalf("CONSUL_HTTP_TOKEN did not reach the request: %q", lastTok)
	}
	if r := f.run("acl", "policy", "read", "-id", "00000002"); r.code != 0 || r.stdout != wantPol {
		t.Fatalf("read by prefix %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := f.run("acl", "policy", "read", "-name", "kv-read", "-format", "json"); r.code != 0 || !strings.Contains(r.stdout, `"Name": "kv-read"`) {
		t.Fatalf("read json %d %q", r.code, r.stdout)
	}
	wantFail(t, f.run("acl", "policy", "read", "-id", "ffff"), 1, "No such policy ID with prefix: ffff")
	wantFail(t, f.run("acl", "policy", "create"), 1, "Missing required '-name' flag")
	r = f.runStdin(`node_prefix "" { policy = "write" }`, "acl", "policy", "update", "-id", "00000002", "-rules", "-")
	wantOK(t, r)
	if !strings.Contains(r.stdout, "Description:  reads\n") || !strings.Contains(r.stdout, `node_prefix "" { policy = "write" }`) {
		t.Fatalf("update merged:\n%s", r.stdout)
	}
	r = f.run("acl", "policy", "list")
	wantOK(t, r)
	if r.stdout != "kv-read:\n   ID:           00000002-0000-0000-0000-000000000000\n   Description:  reads\n   Datacenters:  dc1\n" {
		t.Fatalf("policy list:\n%s", r.stdout)
	}

	// Token create with every kind of link.
	r = f.run("acl", "token", "create", "-description", "web", "-policy-name", "kv-read", "-policy-id", "00000002",
		"-service-identity", "web:dc1,dc2", "-service-identity", "db", "-node-identity", "n1:dc1", "-local",
		"-expires-ttl", "1h", "-secret", "s3", "-accessor", "a1b2c3d4-0000-0000-0000-000000000000")
	wantOK(t, r)
	body := f.last("/v1/acl/token").body
	var sent api.ACLToken
	if err := json.Unmarshal([]byte(body), &sent); err != nil {
		t.Fatal(err)
	}
	if !sent.Local || sent.ExpirationTTL != time.Hour || sent.SecretID != "s3" || len(sent.Policies) != 2 ||
		sent.Policies[0].ID != "00000002-0000-0000-0000-000000000000" || sent.Policies[1].Name != "kv-read" ||
		len(sent.ServiceIdentities) != 2 || len(sent.ServiceIdentities[0].Datacenters) != 2 || sent.NodeIdentities[0].Datacenter != "dc1" {
		t.Fatalf("token create body %s", body)
	}
	for _, want := range []string{"AccessorID:       a1b2c3d4-0000-0000-0000-000000000000\n", "Local:            true\n",
		"Service Identities:\n   web (Datacenters: dc1, dc2)\n   db (Datacenters: all)\n", "Node Identities:\n   n1 (Datacenter: dc1)\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("token create output missing %q:\n%s", want, r.stdout)
		}
	}
	wantFail(t, f.run("acl", "token", "create", "-node-identity", "bad"), 1, "Malformed -node-identity")

	// Read by prefix, -self with -token, update, clone, list, delete.
	if r := f.run("acl", "token", "read", "-id", "a1b2"); r.code != 0 || !strings.Contains(r.stdout, "SecretID:         s3\n") {
		t.Fatalf("token read %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := f.run("acl", "token", "read", "-self", "-token", "s3"); r.code != 0 || !strings.Contains(r.stdout, "Description:      web\n") {
		t.Fatalf("token self %d %q %q", r.code, r.stdout, r.stderr)
	}
	wantFail(t, f.run("acl", "token", "read"), 1, "Must specify the -id parameter")
	wantFail(t, f.run("acl", "token", "read", "-self", "-token", "nobody"), 1, "ACL not found")
	r = f.run("acl", "token", "update", "-id", "a1b2", "-description", "web2", "-policy-name", "other")
	wantOK(t, r)
	if !strings.Contains(r.stdout, "Description:      web2\n") || !strings.Contains(r.stdout, "Policies:\n    - other\n") ||
		!strings.Contains(r.stdout, "Service Identities:") {
		t.Fatalf("token update:\n%s", r.stdout)
	}
	r = f.run("acl", "token", "clone", "-accessor-id", "a1b2", "-description", "copy")
	wantOK(t, r)
	if !strings.Contains(r.stdout, "SecretID:         cloned-secret\n") || !strings.Contains(r.stdout, "Description:      copy\n") {
		t.Fatalf("clone:\n%s", r.stdout)
	}
	r = f.run("acl", "token", "list", "-format", "json")
	wantOK(t, r)
	var list []api.ACLTokenListEntry
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 3 {
		t.Fatalf("token list json %v %q", err, r.stdout)
	}
	if r := f.run("acl", "token", "list"); r.code != 0 || strings.Count(r.stdout, "AccessorID:") != 3 || strings.Count(r.stdout, "\n\n") != 2 {
		t.Fatalf("token list:\n%s", r.stdout)
	}
	if r := f.run("acl", "token", "delete", "-id", "a1b2c3d4-0000-0000-0000-000000000000"); r.code != 0 ||
		r.stdout != "Token \"a1b2c3d4-0000-0000-0000-000000000000\" deleted successfully\n" {
		t.Fatalf("token delete %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := f.run("acl", "policy", "delete", "-name", "kv-read"); r.code != 0 ||
		r.stdout != "Policy \"00000002-0000-0000-0000-000000000000\" deleted successfully\n" {
		t.Fatalf("policy delete %d %q %q", r.code, r.stdout, r.stderr)
	}
}

func TestACLRoleCommands(t *testing.T) {
	f, _ := newACLFake(t)
	wantOK(t, f.run("acl", "policy", "create", "-name", "p1"))
	defer func() {
		wantOK(t, f.run("acl", "policy", "create", "-name", "p2"))
		wantFail(t, f.run("acl", "policy", "read", "-id", "0000"), 1, "Multiple policy IDs with prefix: 0000")
	}()
	wantFail(t, f.run("acl", "role", "create", "-name", "r1"), 1, "Cannot create a role without specifying")
	r := f.run("acl", "role", "create", "-name", "r1", "-description", "first", "-policy-name", "p1", "-service-identity", "web")
	wantOK(t, r)
	want := "ID:           00000002-0000-0000-0000-000000000000\nName:         r1\nDescription:  first\nPolicies:\n    - p1\nService Identities:\n   web (Datacenters: all)\n"
	if r.stdout != want {
		t.Fatalf("role create:\n%s", r.stdout)
	}
	if r := f.run("acl", "role", "read", "-name", "r1"); r.code != 0 || r.stdout != want {
		t.Fatalf("role read %d %q %q", r.code, r.stdout, r.stderr)
	}
	wantFail(t, f.run("acl", "role", "read", "-name", "nope"), 1, "Role not found")
	r = f.run("acl", "role", "update", "-id", "00000002", "-node-identity", "n1:dc1", "-description", "changed")
	wantOK(t, r)
	if !strings.Contains(r.stdout, "Description:  changed\n") || !strings.Contains(r.stdout, "Node Identities:\n   n1 (Datacenter: dc1)\n") ||
		!strings.Contains(r.stdout, "web (Datacenters: all)") {
		t.Fatalf("role update:\n%s", r.stdout)
	}
	r = f.run("acl", "role", "list")
	wantOK(t, r)
	if r.stdout != "r1:\n   ID:           00000002-0000-0000-0000-000000000000\n   Description:  changed\n   Policies:\n       - p1\n"+
		"   Service Identities:\n      web (Datacenters: all)\n   Node Identities:\n      n1 (Datacenter: dc1)\n" {
		t.Fatalf("role list:\n%s", r.stdout)
	}
	if r := f.run("acl", "role", "delete", "-id", "00000002"); r.code != 0 || r.stdout != "Role \"00000002-0000-0000-0000-000000000000\" deleted successfully\n" {
		t.Fatalf("role delete %d %q %q", r.code, r.stdout, r.stderr)
	}
}

func TestACLSetAgentToken(t *testing.T) {
	f, s := newACLFake(t)
	for _, tc := range []struct{ kind, path string }{
		{"default", "default"}, {"agent", "agent"}, {"recovery", "agent_recovery"},
		{"replication", "replication"}, {"config_file_service_registration", "config_file_service_registration"},
	} {
		r := f.run("acl", "set-agent-token", tc.kind, "tok-"+tc.kind)
		if r.code != 0 || r.stdout != "ACL token set successfully\n" {
			t.Fatalf("%s: %d %q %q", tc.kind, r.code, r.stdout, r.stderr)
		}
		s.mu.Lock()
		got := s.agentTok[tc.path]
		s.mu.Unlock()
		if got != "tok-"+tc.kind {
			t.Fatalf("%s: agent got %q", tc.kind, got)
		}
	}
	tf := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(tf, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantOK(t, runCLI(t, map[string]string{"CONSULATE_HTTP_ADDR": f.addr(), "CONSUL_HTTP_TOKEN_FILE": tf}, "", "acl", "set-agent-token", "agent", "x"))
	wantOK(t, f.run("acl", "token", "list", "-token-file", tf))
	s.mu.Lock()
	seen := s.reqTokens[len(s.reqTokens)-2:]
	s.mu.Unlock()
	if seen[0] != "file-token" || seen[1] != "file-token" {
		t.Fatalf("token file not used: %q", seen)
	}
	wantFail(t, f.run("acl", "set-agent-token", "bogus", "x"), 1, `Unknown token type "bogus"`)
	wantFail(t, f.run("acl", "set-agent-token", "agent"), 1, "Missing TYPE and TOKEN arguments")
}
