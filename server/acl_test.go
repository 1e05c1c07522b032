package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"consulate/catalog"
	"consulate/internal/testutil"
	"consulate/structs"
)

func aclServer(t *testing.T, name, dc string, mutate func(*Config), deps Deps) *Server {
	t.Helper()
	cfg := testConfig(name)
	cfg.Datacenter, cfg.Bootstrap, cfg.ACLsEnabled = dc, true, true
	cfg.ACLTokenReapInterval = 20 * time.Millisecond
	cfg.ACLTokenMinExpirationTTL = 100 * time.Millisecond
	if mutate != nil {
		mutate(cfg)
	}
	s := startServer(t, cfg, deps)
	waitLeader(t, s)
	// Leadership creates the builtin objects in the primary.
	if s.inPrimaryDC() {
		testutil.WaitFor(t, 5*time.Second, "anonymous token", func() bool {
			_, tok, _ := s.State().ACLTokenGetByAccessor(nil, structs.ACLTokenAnonymousID)
			return tok != nil
		})
		anonymousManagement(t, s)
	}
	return s
}

// anonymousManagement links the anonymous token of leader's datacenter to
// global-management. The tests of this file predate enforcement and call
// without a token; enforcement itself is tested in authz_test.go.
func anonymousManagement(t *testing.T, leader *Server) {
	t.Helper()
	testutil.WaitFor(t, 5*time.Second, "anonymous token", func() bool {
		_, tok, _ := leader.State().ACLTokenGetByAccessor(nil, structs.ACLTokenAnonymousID)
		return tok != nil
	})
	_, anon, _ := leader.State().ACLTokenGetByAccessor(nil, structs.ACLTokenAnonymousID)
	anon.Policies = []*structs.ACLLink{{ID: structs.ACLPolicyGlobalManagementID}}
	if _, err := leader.raftApply(catalog.ACLTokenSetType, &catalog.ACLTokenBatchSetRequest{Tokens: []*structs.ACLToken{anon}}); err != nil {
		t.Fatal(err)
	}
}

// seedManagementToken stores a management token (and the policy it links)
// straight into a secondary's state, as replication would.
func seedManagementToken(t *testing.T, s *Server, secret string) {
	t.Helper()
	if _, err := s.raftApply(catalog.ACLPolicySetType, &catalog.ACLPolicyBatchSetRequest{
		Policies: []*structs.ACLPolicy{catalog.GlobalManagementPolicy()}}); err != nil {
		t.Fatal(err)
	}
	tok := &structs.ACLToken{AccessorID: "0b8e0c52-0000-4000-8000-000000000001", SecretID: secret,
		Policies: []*structs.ACLLink{{ID: structs.ACLPolicyGlobalManagementID}}}
	if _, err := s.raftApply(catalog.ACLTokenSetType, &catalog.ACLTokenBatchSetRequest{Tokens: []*structs.ACLToken{tok}, Create: true}); err != nil {
		t.Fatal(err)
	}
}

func callErr(s *Server, method structs.Method, args, reply any) error {
	return s.RPC(context.Background(), method, args, reply)
}

func isBadRequest(err error) bool {
	var br *structs.BadRequestError
	return errors.As(err, &br)
}

func TestACLDisabled(t *testing.T) {
	s := devServer(t)
	var resp structs.ACLTokensResponse
	err := callErr(s, structs.MethodACLTokenList, &structs.ACLTokenListRequest{}, &resp)
	if !errors.Is(err, structs.ErrACLDisabled) || !isBadRequest(err) || err.Error() != "ACL support disabled" {
		t.Fatalf("token list with ACLs off: %v", err)
	}
	var tok structs.ACLToken
	if err := callErr(s, structs.MethodACLBootstrap, &structs.ACLBootstrapRequest{}, &tok); !errors.Is(err, structs.ErrACLDisabled) {
		t.Fatalf("bootstrap with ACLs off: %v", err)
	}
	if _, anon, _ := s.State().ACLTokenGetByAccessor(nil, structs.ACLTokenAnonymousID); anon != nil {
		t.Fatal("anonymous token created with ACLs off")
	}
}

func TestACLBootstrapOnceAndReset(t *testing.T) {
	dir := t.TempDir()
	s := aclServer(t, "s1", "dc1", func(c *Config) { c.DataDir = dir }, Deps{})
	var boot structs.ACLToken
	rpc(t, s, structs.MethodACLBootstrap, &structs.ACLBootstrapRequest{}, &boot)
	if boot.SecretID == "" || boot.AccessorID == "" || len(boot.Policies) != 1 ||
		boot.Policies[0].ID != structs.ACLPolicyGlobalManagementID || boot.Policies[0].Name != structs.ACLPolicyGlobalManagementName {
		t.Fatalf("bootstrap token %+v", boot)
	}
	var again structs.ACLToken
	err := callErr(s, structs.MethodACLBootstrap, &structs.ACLBootstrapRequest{}, &again)
	if !errors.Is(err, structs.ErrACLBootstrapNotAllowed) || !strings.Contains(err.Error(), "(reset index: ") {
		t.Fatalf("second bootstrap: %v", err)
	}
	_, resetIdx, _ := s.State().ACLCanBootstrap()
	if want := "ACL bootstrap no longer allowed (reset index: " + strconv.FormatUint(resetIdx, 10) + ")"; err.Error() != want {
		t.Fatalf("second bootstrap: %q, want %q", err, want)
	}
	resetFile := filepath.Join(dir, ACLBootstrapResetFile)
	if err := os.WriteFile(resetFile, []byte(strconv.FormatUint(resetIdx+100, 10)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := callErr(s, structs.MethodACLBootstrap, &structs.ACLBootstrapRequest{}, &again); !isBadRequest(err) {
		t.Fatalf("wrong reset index: %v", err)
	}
	if err := os.WriteFile(resetFile, []byte(strconv.FormatUint(resetIdx, 10)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rpc(t, s, structs.MethodACLBootstrap, &structs.ACLBootstrapRequest{}, &again)
	if again.SecretID == boot.SecretID {
		t.Fatal("reset bootstrap gave the same token")
	}
	if _, err := os.Stat(resetFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("reset file kept: %v", err)
	}
	// Resolve: the token and its policy.
	var res structs.ACLResolveResponse
	rpc(t, s, structs.MethodACLResolve, &structs.ACLResolveRequest{SecretID: again.SecretID}, &res)
	if res.Token == nil || res.Token.AccessorID != again.AccessorID || len(res.Policies) != 1 ||
		res.Policies[0].ID != structs.ACLPolicyGlobalManagementID {
		t.Fatalf("resolve %+v", res)
	}
	rpc(t, s, structs.MethodACLResolve, &structs.ACLResolveRequest{SecretID: "nope"}, &res)
	if res.Token != nil {
		t.Fatalf("unknown secret resolved: %+v", res.Token)
	}
}

func TestACLInitialManagementTokenOnLeadership(t *testing.T) {
	const secret = "5d5b4f1e-0000-4000-8000-00000000abcd"
	s := aclServer(t, "s1", "dc1", func(c *Config) { c.ACLInitialManagementToken = secret }, Deps{})
	testutil.WaitFor(t, 5*time.Second, "initial management token", func() bool {
		_, tok, _ := s.State().ACLTokenGetBySecret(nil, secret)
		return tok != nil && len(tok.Policies) == 1 && tok.Policies[0].ID == structs.ACLPolicyGlobalManagementID
	})
	var p structs.ACLPolicyResponse
	rpc(t, s, structs.MethodACLPolicyRead, &structs.ACLPolicyGetRequest{PolicyID: "global-management", ByName: true}, &p)
	if p.Policy == nil || p.Policy.ID != structs.ACLPolicyGlobalManagementID || p.Policy.Rules == "" {
		t.Fatalf("global-management %+v", p.Policy)
	}
	var self structs.ACLTokenResponse
	rpc(t, s, structs.MethodACLTokenRead, &structs.ACLTokenGetRequest{TokenID: structs.ACLTokenAnonymousSecret, BySecret: true}, &self)
	if self.Token == nil || self.Token.AccessorID != structs.ACLTokenAnonymousID {
		t.Fatalf("anonymous %+v", self.Token)
	}
	// Bootstrap is still allowed once: the initial token is not a bootstrap.
	var boot structs.ACLToken
	rpc(t, s, structs.MethodACLBootstrap, &structs.ACLBootstrapRequest{}, &boot)
}

func TestACLCRUD(t *testing.T) {
	s := aclServer(t, "s1", "dc1", nil, Deps{})
	var pol structs.ACLPolicy
	rpc(t, s, structs.MethodACLPolicySet, &structs.ACLPolicySetRequest{Policy: structs.ACLPolicy{Name: "kv-read", Rules: `key_prefix "" { policy = "read" }`}}, &pol)
	if pol.ID == "" || pol.CreateIndex == 0 || len(pol.Hash) == 0 {
		t.Fatalf("policy %+v", pol)
	}
	var dup structs.ACLPolicy
	if err := callErr(s, structs.MethodACLPolicySet, &structs.ACLPolicySetRequest{Policy: structs.ACLPolicy{Name: "KV-read"}}, &dup); !isBadRequest(err) {
		t.Fatalf("duplicate name: %v", err)
	}
	if err := callErr(s, structs.MethodACLPolicySet, &structs.ACLPolicySetRequest{Policy: structs.ACLPolicy{Name: "bad name!"}}, &dup); !isBadRequest(err) {
		t.Fatalf("invalid name: %v", err)
	}
	var gone string
	if err := callErr(s, structs.MethodACLPolicyDelete, &structs.ACLPolicyDeleteRequest{PolicyID: structs.ACLPolicyGlobalManagementID}, &gone); !isBadRequest(err) {
		t.Fatalf("delete global-management: %v", err)
	}
	gm := structs.ACLPolicy{ID: structs.ACLPolicyGlobalManagementID, Name: "global-management", Rules: `acl = "read"`}
	if err := callErr(s, structs.MethodACLPolicySet, &structs.ACLPolicySetRequest{Policy: gm}, &dup); !isBadRequest(err) {
		t.Fatalf("change global-management rules: %v", err)
	}

	var role structs.ACLRole
	rpc(t, s, structs.MethodACLRoleSet, &structs.ACLRoleSetRequest{Role: structs.ACLRole{Name: "reader",
		Policies: []*structs.ACLLink{{Name: "kv-read"}}}}, &role)
	if role.ID == "" || len(role.Policies) != 1 || role.Policies[0].ID != pol.ID {
		t.Fatalf("role %+v", role)
	}

	var tok structs.ACLToken
	err := callErr(s, structs.MethodACLTokenSet, &structs.ACLTokenSetRequest{Create: true, ACLToken: structs.ACLToken{
		Policies: []*structs.ACLLink{{Name: "nope"}}}}, &tok)
	if !isBadRequest(err) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("unknown policy name: %v", err)
	}
	rpc(t, s, structs.MethodACLTokenSet, &structs.ACLTokenSetRequest{Create: true, ACLToken: structs.ACLToken{
		Description: "app", Roles: []*structs.ACLLink{{Name: "reader"}}, ExpirationTTL: time.Hour}}, &tok)
	if tok.AccessorID == "" || tok.SecretID == "" || tok.ExpirationTime == nil || tok.CreateTime.IsZero() || tok.Roles[0].ID != role.ID {
		t.Fatalf("token %+v", tok)
	}
	var res structs.ACLResolveResponse
	rpc(t, s, structs.MethodACLResolve, &structs.ACLResolveRequest{SecretID: tok.SecretID}, &res)
	if res.Token == nil || len(res.Roles) != 1 || len(res.Policies) != 1 || res.Policies[0].ID != pol.ID {
		t.Fatalf("resolve %+v", res)
	}
	// Update keeps the secret and expiration.
	upd := tok
	upd.SecretID, upd.ExpirationTime, upd.Description = "", nil, "app v2"
	var updated structs.ACLToken
	rpc(t, s, structs.MethodACLTokenSet, &structs.ACLTokenSetRequest{ACLToken: upd}, &updated)
	if updated.SecretID != tok.SecretID || updated.Description != "app v2" || !updated.ExpirationTime.Equal(*tok.ExpirationTime) ||
		updated.CreateIndex != tok.CreateIndex || updated.ModifyIndex <= tok.ModifyIndex {
		t.Fatalf("updated %+v", updated)
	}
	var list structs.ACLTokensResponse
	rpc(t, s, structs.MethodACLTokenList, &structs.ACLTokenListRequest{Role: role.ID}, &list)
	if len(list.Tokens) != 1 || list.Tokens[0].AccessorID != tok.AccessorID {
		t.Fatalf("tokens by role %+v", list.Tokens)
	}
	var pols structs.ACLPoliciesResponse
	rpc(t, s, structs.MethodACLPolicyList, &structs.DCSpecificRequest{}, &pols)
	if len(pols.Policies) != 2 {
		t.Fatalf("policies %+v", pols.Policies)
	}
	var roles structs.ACLRolesResponse
	rpc(t, s, structs.MethodACLRoleList, &structs.DCSpecificRequest{}, &roles)
	if len(roles.Roles) != 1 {
		t.Fatalf("roles %+v", roles.Roles)
	}

	// Blocking read on the token list wakes on a token write.
	done := make(chan error, 1)
	go func() {
		var l structs.ACLTokensResponse
		err := s.RPC(context.Background(), structs.MethodACLTokenList, &structs.ACLTokenListRequest{
			QueryOptions: structs.QueryOptions{MinQueryIndex: list.Index, MaxQueryTime: 5 * time.Second}}, &l)
		if err == nil && len(l.Tokens) != 3 {
			err = errors.New("blocking list did not see the new token")
		}
		done <- err
	}()
	var short structs.ACLToken
	if err := callErr(s, structs.MethodACLTokenSet, &structs.ACLTokenSetRequest{Create: true, ACLToken: structs.ACLToken{ExpirationTTL: time.Millisecond}}, &short); !isBadRequest(err) {
		t.Fatalf("TTL below the minimum: %v", err)
	}
	rpc(t, s, structs.MethodACLTokenSet, &structs.ACLTokenSetRequest{Create: true, ACLToken: structs.ACLToken{ExpirationTTL: 150 * time.Millisecond}}, &short)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocking token list did not return")
	}
	// An expired token is not found, then reaped by the leader.
	testutil.WaitFor(t, 5*time.Second, "expired token reaped", func() bool {
		_, raw, _ := s.State().ACLTokenGetByAccessor(nil, short.AccessorID)
		return raw == nil
	})
	var read structs.ACLTokenResponse
	rpc(t, s, structs.MethodACLTokenRead, &structs.ACLTokenGetRequest{TokenID: short.AccessorID}, &read)
	if read.Token != nil {
		t.Fatal("expired token read")
	}

	if err := callErr(s, structs.MethodACLTokenDelete, &structs.ACLTokenDeleteRequest{TokenID: structs.ACLTokenAnonymousID}, &gone); !isBadRequest(err) {
		t.Fatalf("delete anonymous: %v", err)
	}
	rpc(t, s, structs.MethodACLTokenDelete, &structs.ACLTokenDeleteRequest{TokenID: tok.AccessorID}, &gone)
	rpc(t, s, structs.MethodACLTokenRead, &structs.ACLTokenGetRequest{TokenID: tok.AccessorID}, &read)
	if read.Token != nil || gone != tok.AccessorID {
		t.Fatal("token still there after delete")
	}
	if err := callErr(s, structs.MethodACLTokenDelete, &structs.ACLTokenDeleteRequest{TokenID: tok.AccessorID}, &gone); !errors.Is(err, structs.ErrACLNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	rpc(t, s, structs.MethodACLRoleDelete, &structs.ACLRoleDeleteRequest{RoleID: role.ID}, &gone)
	rpc(t, s, structs.MethodACLPolicyDelete, &structs.ACLPolicyDeleteRequest{PolicyID: pol.ID}, &gone)
	var pr structs.ACLPolicyResponse
	rpc(t, s, structs.MethodACLPolicyRead, &structs.ACLPolicyGetRequest{PolicyID: pol.ID}, &pr)
	if pr.Policy != nil {
		t.Fatal("policy still there after delete")
	}
}

func TestACLSecondaryForwardsGlobalWrites(t *testing.T) {
	dc1 := aclServer(t, "dc1-s1", "dc1", nil, Deps{})
	fwd := &dcForwarder{dcs: map[string]*Server{"dc1": dc1}}
	dc2 := aclServer(t, "dc2-s1", "dc2", func(c *Config) { c.PrimaryDatacenter = "dc1" }, Deps{Forwarder: fwd})
	const dc2Mgmt = "0b8e0c52-0000-4000-8000-0000000000aa"
	seedManagementToken(t, dc2, dc2Mgmt)

	var pol structs.ACLPolicy
	rpc(t, dc2, structs.MethodACLPolicySet, &structs.ACLPolicySetRequest{Policy: structs.ACLPolicy{Name: "p"}}, &pol)
	if _, p, _ := dc1.State().ACLPolicyGetByID(nil, pol.ID); p == nil {
		t.Fatal("policy written in dc2 is not in dc1")
	}
	// dc2 may hold it too by now: its leader replicates policies and roles
	// from dc1 (that is what the copy there is; a global token below, not
	// replicated without acl token replication, shows the write was not
	// applied locally).
	var role structs.ACLRole
	rpc(t, dc2, structs.MethodACLRoleSet, &structs.ACLRoleSetRequest{Role: structs.ACLRole{Name: "r", Policies: []*structs.ACLLink{{Name: "p"}}}}, &role)
	if _, r, _ := dc1.State().ACLRoleGetByID(nil, role.ID); r == nil {
		t.Fatal("role written in dc2 is not in dc1")
	}
	var global, local structs.ACLToken
	rpc(t, dc2, structs.MethodACLTokenSet, &structs.ACLTokenSetRequest{Create: true, ACLToken: structs.ACLToken{Policies: []*structs.ACLLink{{Name: "p"}}}}, &global)
	if _, tk, _ := dc1.State().ACLTokenGetByAccessor(nil, global.AccessorID); tk == nil {
		t.Fatal("global token written in dc2 is not in dc1")
	}
	if _, tk, _ := dc2.State().ACLTokenGetByAccessor(nil, global.AccessorID); tk != nil {
		t.Fatal("global token stored in dc2")
	}
	rpc(t, dc2, structs.MethodACLTokenSet, &structs.ACLTokenSetRequest{Create: true, ACLToken: structs.ACLToken{Local: true, Description: "local"},
		WriteRequest: structs.WriteRequest{Token: dc2Mgmt}}, &local)
	if _, tk, _ := dc2.State().ACLTokenGetByAccessor(nil, local.AccessorID); tk == nil || !tk.Local {
		t.Fatal("local token not stored in dc2")
	}
	if _, tk, _ := dc1.State().ACLTokenGetByAccessor(nil, local.AccessorID); tk != nil {
		t.Fatal("local token of dc2 stored in dc1")
	}
	// Reads are answered from dc2's own state.
	var read structs.ACLTokenResponse
	rpc(t, dc2, structs.MethodACLTokenRead, &structs.ACLTokenGetRequest{TokenID: global.AccessorID,
		QueryOptions: structs.QueryOptions{Token: dc2Mgmt}}, &read)
	if read.Token != nil {
		t.Fatal("dc2 read answered from dc1")
	}
	// Deletes follow the token: global ones to dc1, local ones here.
	var gone string
	rpc(t, dc2, structs.MethodACLTokenDelete, &structs.ACLTokenDeleteRequest{TokenID: global.AccessorID}, &gone)
	if _, tk, _ := dc1.State().ACLTokenGetByAccessor(nil, global.AccessorID); tk != nil {
		t.Fatal("global token delete from dc2 did not reach dc1")
	}
	rpc(t, dc2, structs.MethodACLTokenDelete, &structs.ACLTokenDeleteRequest{TokenID: local.AccessorID,
		WriteRequest: structs.WriteRequest{Token: dc2Mgmt}}, &gone)
	if _, tk, _ := dc2.State().ACLTokenGetByAccessor(nil, local.AccessorID); tk != nil {
		t.Fatal("local token delete in dc2 failed")
	}
	// Bootstrap from the secondary happens in the primary.
	var boot structs.ACLToken
	rpc(t, dc2, structs.MethodACLBootstrap, &structs.ACLBootstrapRequest{}, &boot)
	if _, tk, _ := dc1.State().ACLTokenGetBySecret(nil, boot.SecretID); tk == nil {
		t.Fatal("bootstrap from dc2 did not happen in dc1")
	}
	// A secondary creates no builtin objects of its own (replication's job).
	if _, anon, _ := dc2.State().ACLTokenGetByAccessor(nil, structs.ACLTokenAnonymousID); anon != nil {
		t.Fatal("secondary created the anonymous token")
	}
}

func TestACLThreeServersFollowerWritesAndStaleReads(t *testing.T) {
	const secret = "6e4a1c2d-0000-4000-8000-00000000beef"
	fwd := &fakeForwarder{servers: map[raft.ServerAddress]*Server{}, dcs: map[string]*Server{}}
	var servers []*Server
	for i, tr := range connectedTransports(3) {
		cfg := testConfig([]string{"s1", "s2", "s3"}[i])
		cfg.ACLsEnabled, cfg.ACLInitialManagementToken = true, secret
		s := startServer(t, cfg, Deps{Transport: tr, Servers: fwd, Forwarder: fwd})
		fwd.mu.Lock()
		fwd.servers[tr.LocalAddr()] = s
		fwd.mu.Unlock()
		servers = append(servers, s)
	}
	bootstrapAll(t, servers)
	var follower *Server
	testutil.WaitFor(t, 5*time.Second, "a follower", func() bool {
		for _, s := range servers {
			if !s.IsLeader() && s.Leader() != "" {
				follower = s
				return true
			}
		}
		return false
	})
	var boot structs.ACLToken
	rpc(t, follower, structs.MethodACLBootstrap, &structs.ACLBootstrapRequest{}, &boot)
	var pol structs.ACLPolicy
	// The write is checked on the leader, with the token it carries.
	testutil.WaitFor(t, 5*time.Second, "initial management token everywhere", func() bool {
		for _, s := range servers {
			if _, tk, _ := s.State().ACLTokenGetBySecret(nil, secret); tk == nil {
				return false
			}
		}
		return true
	})
	rpc(t, follower, structs.MethodACLPolicySet, &structs.ACLPolicySetRequest{Policy: structs.ACLPolicy{Name: "p"},
		WriteRequest: structs.WriteRequest{Token: secret}}, &pol)
	for _, s := range servers {
		testutil.WaitFor(t, 5*time.Second, "ACL state replicated", func() bool {
			var res structs.ACLResolveResponse
			err := s.RPC(context.Background(), structs.MethodACLResolve, &structs.ACLResolveRequest{SecretID: boot.SecretID,
				QueryOptions: structs.QueryOptions{AllowStale: true}}, &res)
			if err != nil {
				t.Fatal(err)
			}
			var init structs.ACLResolveResponse
			_ = s.RPC(context.Background(), structs.MethodACLResolve, &structs.ACLResolveRequest{SecretID: secret,
				QueryOptions: structs.QueryOptions{AllowStale: true}}, &init)
			_, p, _ := s.State().ACLPolicyGetByID(nil, pol.ID)
			return res.Token != nil && len(res.Policies) == 1 && init.Token != nil && p != nil
		})
	}
	// One initial management token, however many leaders ran.
	_, all, _ := servers[0].State().ACLTokenList(nil, true, true, "", "")
	n := 0
	for _, tk := range all {
		if tk.SecretID == secret {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d initial management tokens", n)
	}
}
