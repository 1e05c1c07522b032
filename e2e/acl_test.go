package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/chaos/netfault"
	"consulate/internal/testutil"
)

// aclConfig writes an HCL file turning ACLs on with default deny and the
// given extra lines inside acl { tokens { … } }.
func aclConfig(t *testing.T, tokens string) string {
	t.Helper()
	body := "acl {\n  enabled = true\n  default_policy = \"deny\"\n  tokens {\n" + tokens + "\n  }\n}\n"
	path := filepath.Join(t.TempDir(), "acl.hcl")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tokenClient is the official client on a's HTTP API with a token.
func tokenClient(t *testing.T, a *agentProc, token string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = a.httpAddr()
	cfg.Token = token
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// statusCode is the HTTP status of an error from the official client, 0
// when it carries none.
func statusCode(err error) int {
	var se api.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// TestACLOfficialClient: with default deny, the official client creates
// a policy and a token and uses it: a token without key_prefix "app/"
// write gets 403 on PUT, a read-only service token sees only its service
// in /v1/catalog/services with the filtered header, an unknown token is
// "ACL not found", bad rules are a 400 naming the line, an unknown policy
// name in a token is a 400.
func TestACLOfficialClient(t *testing.T) {
	srv := startAgent(t, "acl-s1", "127.0.0.201", "-server", "-bootstrap",
		"-config-file", aclConfig(t, `initial_management = "root-secret"
agent = "root-secret"`))
	srv.waitHTTP(15 * time.Second)
	root := tokenClient(t, srv, "root-secret")
	testutil.WaitForErr(t, 15*time.Second, "the initial management token", func() error {
		_, _, err := root.ACL().TokenReadSelf(nil)
		return err
	})

	if _, _, err := root.ACL().PolicyCreate(&api.ACLPolicy{Name: "app-read", Rules: `key_prefix "app/" { policy = "read" }`}, nil); err != nil {
		t.Fatalf("policy create: %v", err)
	}
	tok, _, err := root.ACL().TokenCreate(&api.ACLToken{Description: "app reader",
		Policies: []*api.ACLTokenPolicyLink{{Name: "app-read"}}}, nil)
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	if _, err := root.KV().Put(&api.KVPair{Key: "app/x", Value: []byte("v")}, nil); err != nil {
		t.Fatalf("management write: %v", err)
	}
	reader := tokenClient(t, srv, tok.SecretID)
	if _, err := reader.KV().Put(&api.KVPair{Key: "app/x", Value: []byte("w")}, nil); statusCode(err) != 403 {
		t.Fatalf("write with a read token: %v, want 403", err)
	}
	if kv, _, err := reader.KV().Get("app/x", nil); err != nil || kv == nil || string(kv.Value) != "v" {
		t.Fatalf("read with a read token: %v %v", kv, err)
	}
	if _, _, err := reader.KV().Get("other/x", nil); statusCode(err) != 403 {
		t.Fatalf("read outside the prefix: %v, want 403", err)
	}

	// A read-only service token sees only its service.
	for _, name := range []string{"web", "db"} {
		if _, err := root.Catalog().Register(&api.CatalogRegistration{Node: "n1", Address: "10.0.0.1",
			Service: &api.AgentService{ID: name, Service: name}}, nil); err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
	}
	if _, _, err := root.ACL().PolicyCreate(&api.ACLPolicy{Name: "web-read", Rules: `service "web" { policy = "read" }`}, nil); err != nil {
		t.Fatal(err)
	}
	webTok, _, err := root.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{Name: "web-read"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	svcs, meta, err := tokenClient(t, srv, webTok.SecretID).Catalog().Services(nil)
	if err != nil {
		t.Fatalf("services: %v", err)
	}
	if _, ok := svcs["web"]; !ok || len(svcs) != 1 || !meta.ResultsFilteredByACLs {
		t.Fatalf("services %v filtered=%v, want only web and the filtered header", svcs, meta.ResultsFilteredByACLs)
	}

	// An unknown token.
	if _, _, err := tokenClient(t, srv, "no-such-secret").KV().Get("app/x", nil); err == nil || !strings.Contains(err.Error(), "ACL not found") {
		t.Fatalf("unknown token: %v, want ACL not found", err)
	}
	// Bad input.
	if _, _, err := root.ACL().PolicyCreate(&api.ACLPolicy{Name: "bad", Rules: "key_prefix \"a\" {\n  policy = \"sometimes\"\n}"}, nil); statusCode(err) != 400 || !strings.Contains(err.Error(), "line") {
		t.Fatalf("malformed rules: %v, want a 400 naming the line", err)
	}
	if _, _, err := root.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{Name: "no-such-policy"}}}, nil); statusCode(err) != 400 {
		t.Fatalf("unknown policy name: %v, want 400", err)
	}
}

// TestACLBootstrapOnce: `consulate acl bootstrap` works once and then
// says it is no longer allowed.
func TestACLBootstrapOnce(t *testing.T) {
	srv := startAgent(t, "acl-b1", "127.0.0.202", "-server", "-bootstrap", "-config-file", aclConfig(t, ""))
	srv.waitHTTP(15 * time.Second)
	var out string
	testutil.WaitForErr(t, 15*time.Second, "acl bootstrap", func() error {
		var err error
		out, err = cli(t, "acl", "bootstrap", "--http-addr", srv.httpAddr())
		return err
	})
	if !strings.Contains(out, "SecretID:") {
		t.Fatalf("bootstrap output:\n%s", out)
	}
	if out, err := cli(t, "acl", "bootstrap", "--http-addr", srv.httpAddr()); err == nil || !strings.Contains(out, "no longer allowed") {
		t.Fatalf("second bootstrap: %v\n%s", err, out)
	}
}

// aclFedConfig is the ACL config of a federation with dc1 as primary.
func aclFedConfig(t *testing.T, initialManagement bool) string {
	t.Helper()
	tokens := `agent = "root-secret"
    replication = "root-secret"`
	if initialManagement {
		tokens = `initial_management = "root-secret"
    ` + tokens
	}
	body := "primary_datacenter = \"dc1\"\nacl {\n  enabled = true\n  default_policy = \"deny\"\n  down_policy = \"extend-cache\"\n  enable_token_replication = true\n  tokens {\n    " + tokens + "\n  }\n}\n"
	path := filepath.Join(t.TempDir(), "acl.hcl")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestACLFederation: with primary_datacenter = "dc1", a policy and a
// global token made in dc1 work in dc2 within a second; a local token
// made in dc2 does not exist in dc1; /v1/acl/replication in dc2 shows
// Running with a fresh LastSuccess. Then dc1 is cut off (nftables) for
// 30 s: dc2 still authorizes known tokens and refuses unknown ones, and
// replication resumes by itself after the heal.
func TestACLFederation(t *testing.T) {
	s1 := startAgent(t, "aclf-dc1", "127.0.0.211", "-server", "-bootstrap", "-datacenter", "dc1",
		"-config-file", aclFedConfig(t, true))
	s2 := startAgent(t, "aclf-dc2", "127.0.0.221", "-server", "-bootstrap", "-datacenter", "dc2",
		"-config-file", aclFedConfig(t, false))
	s1.waitHTTP(15 * time.Second)
	s2.waitHTTP(15 * time.Second)
	root1 := tokenClient(t, s1, "root-secret")
	testutil.WaitForErr(t, 15*time.Second, "the initial management token", func() error {
		_, _, err := root1.ACL().TokenReadSelf(nil)
		return err
	})
	if out, err := cli(t, "join", "-wan", "--http-addr", s1.httpAddr(), "-token", "root-secret", "127.0.0.221"); err != nil {
		t.Fatalf("join -wan: %v\n%s", err, out)
	}
	root2 := tokenClient(t, s2, "root-secret")
	testutil.WaitForErr(t, 15*time.Second, "the management token replicated to dc2", func() error {
		_, _, err := root2.ACL().TokenReadSelf(nil)
		return err
	})

	if _, _, err := root1.ACL().PolicyCreate(&api.ACLPolicy{Name: "app-read", Rules: `key_prefix "app/" { policy = "read" }`}, nil); err != nil {
		t.Fatal(err)
	}
	tok, _, err := root1.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{Name: "app-read"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	made := time.Now()
	reader2 := tokenClient(t, s2, tok.SecretID)
	testutil.WaitForErr(t, 5*time.Second, "the dc1 token working in dc2", func() error {
		_, _, err := reader2.KV().Get("app/x", nil)
		return err
	})
	if lag := time.Since(made); lag > time.Second {
		t.Errorf("replication lag %v, want ≤ 1s", lag)
	}
	local, _, err := root2.ACL().TokenCreate(&api.ACLToken{Local: true, Policies: []*api.ACLTokenPolicyLink{{Name: "app-read"}}}, nil)
	if err != nil {
		t.Fatalf("local token in dc2: %v", err)
	}
	if _, _, err := root1.ACL().TokenRead(local.AccessorID, nil); err == nil {
		t.Fatal("a dc2 local token exists in dc1")
	}
	rs, _, err := root2.ACL().Replication(nil)
	if err != nil || !rs.Enabled || !rs.Running || rs.SourceDatacenter != "dc1" || time.Since(rs.LastSuccess) > 10*time.Second {
		t.Fatalf("replication status in dc2: %+v %v", rs, err)
	}

	// The primary cut off.
	netfault.Require(t)
	nf, err := netfault.New("aclfed")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nf.Close() })
	if err := nf.Partition([]string{"127.0.0.211"}, []string{"127.0.0.221"}); err != nil {
		t.Fatal(err)
	}
	cutUntil := time.Now().Add(30 * time.Second)
	for time.Now().Before(cutUntil) {
		if _, _, err := reader2.KV().Get("app/x", nil); err != nil {
			t.Fatalf("a known token refused in dc2 during the cut: %v", err)
		}
		if _, _, err := tokenClient(t, s2, "no-such-secret").KV().Get("app/x", nil); err == nil {
			t.Fatal("an unknown token was accepted in dc2 during the cut")
		}
		time.Sleep(time.Second)
	}
	if err := nf.Heal(); err != nil {
		t.Fatal(err)
	}
	after, _, err := root1.ACL().TokenCreate(&api.ACLToken{Policies: []*api.ACLTokenPolicyLink{{Name: "app-read"}}}, nil)
	if err != nil {
		t.Fatalf("token create after the heal: %v", err)
	}
	testutil.WaitForErr(t, 15*time.Second, "replication after the heal", func() error {
		_, _, err := tokenClient(t, s2, after.SecretID).KV().Get("app/x", nil)
		return err
	})
}

// TestACLSeedClusterDefaultDeny: the seed guide's cluster (three servers
// and a client) with default_policy = "deny". The servers have an agent
// token; the client starts without one: its log says what is missing and
// its service does not reach the catalog. Given an agent token through
// `consulate acl set-agent-token` it syncs its node, and its config-file
// service once it has a config_file_service_registration token too: as in
// Consul, services sync with their registration's token, never the
// agent's.
func TestACLSeedClusterDefaultDeny(t *testing.T) {
	serverCfg := aclConfig(t, `initial_management = "root-secret"
agent = "root-secret"`)
	ips := []string{"127.0.0.231", "127.0.0.232", "127.0.0.233"}
	var servers []*agentProc
	for i, ip := range ips {
		servers = append(servers, startAgent(t, fmt.Sprintf("acl-seed-s%d", i+1), ip, "-server", "-bootstrap-expect", "3",
			"-retry-join", ips[0], "-retry-interval", "200ms", "-config-file", serverCfg))
	}
	for _, s := range servers {
		s.waitHTTP(15 * time.Second)
	}
	root := tokenClient(t, servers[0], "root-secret")
	testutil.WaitForErr(t, 20*time.Second, "a leader and the management token", func() error {
		_, _, err := root.ACL().TokenReadSelf(nil)
		return err
	})

	svcFile := filepath.Join(t.TempDir(), "web.json")
	if err := os.WriteFile(svcFile, []byte(`{"service": {"name": "web", "port": 80}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	client := startAgent(t, "acl-seed-c1", "127.0.0.234", "-join", ips[0],
		"-config-file", aclConfig(t, ""), "-config-file", svcFile)
	client.waitHTTP(15 * time.Second)
	waitLogWithin(t, client, 15*time.Second, "the missing agent token", "acl.tokens.agent")
	if svcs, _, err := root.Catalog().Service("web", "", nil); err != nil || len(svcs) != 0 {
		t.Fatalf("web reached the catalog without an agent token: %v %v", svcs, err)
	}

	// The client resolves the token on any server; a follower that has not
	// yet applied the leader's initial management token answers "ACL not
	// found" for a few milliseconds after the leader created it (as
	// Consul's followers do), so the first call may need a retry.
	for _, kind := range []string{"agent", "config_file_service_registration"} {
		testutil.WaitForErr(t, 10*time.Second, "set-agent-token "+kind, func() error {
			out, err := cli(t, "acl", "set-agent-token", "--http-addr", client.httpAddr(), "-token", "root-secret", kind, "root-secret")
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		})
		if kind == "agent" {
			// The agent token alone does not sync a service.
			waitLogWithin(t, client, 15*time.Second, "the refused service", "Service registration blocked by ACLs")
			if svcs, _, err := root.Catalog().Service("web", "", nil); err != nil || len(svcs) != 0 {
				t.Fatalf("web synced with the agent token: %v %v", svcs, err)
			}
		}
	}
	testutil.WaitForErr(t, 30*time.Second, "web synced with the config_file_service_registration token", func() error {
		svcs, _, err := root.Catalog().Service("web", "", nil)
		if err != nil {
			return err
		}
		if len(svcs) != 1 || svcs[0].Node != "acl-seed-c1" {
			return fmt.Errorf("%d instances", len(svcs))
		}
		return nil
	})
}

// waitLogWithin waits until a's log holds text.
func waitLogWithin(t *testing.T, a *agentProc, within time.Duration, what, text string) {
	t.Helper()
	testutil.WaitFor(t, within, what+" in the log of "+a.name, func() bool {
		return strings.Contains(a.log.String(), text)
	})
}
