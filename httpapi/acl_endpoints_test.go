package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/structs"
)

// aclAgent answers the ACL methods from memory, as a server with ACLs
// enabled would: writes need the management secret "root" (created by
// bootstrap), reads of unknown objects answer nil. Everything else goes
// to the fake agent.
type aclAgent struct {
	*fakeAgent
	mu           sync.Mutex
	disabled     bool
	bootstrapped bool
	idx          uint64
	seq          int
	tokens       map[string]*structs.ACLToken // by AccessorID
	policies     map[string]*structs.ACLPolicy
	roles        map[string]*structs.ACLRole
	args         map[structs.Method]any
	agentTokens  map[string]string
}

func newACLAgent() *aclAgent {
	return &aclAgent{fakeAgent: newFakeAgent(), idx: 10,
		tokens: map[string]*structs.ACLToken{}, policies: map[string]*structs.ACLPolicy{},
		roles: map[string]*structs.ACLRole{}, args: map[structs.Method]any{}, agentTokens: map[string]string{}}
}

func (a *aclAgent) newID() string {
	a.seq++
	return fmt.Sprintf("00000000-0000-0000-0000-%012d", 100+a.seq)
}

func (a *aclAgent) lastArgs(m structs.Method) any {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.args[m]
}

func (a *aclAgent) SetAgentToken(kind, secret string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.disabled {
		return errors.New("ACL support disabled")
	}
	a.agentTokens[kind] = secret
	return nil
}

func (a *aclAgent) allowed(secret string) error {
	for _, t := range a.tokens {
		if t.SecretID == secret {
			if secret == "root" {
				return nil
			}
			return fmt.Errorf("%w: token lacks acl:write", structs.ErrPermissionDenied)
		}
	}
	return structs.ErrACLNotFound
}

func (a *aclAgent) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	if !strings.HasPrefix(string(method), "ACL.") {
		return a.fakeAgent.RPC(ctx, method, args, reply)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.args[method] = args
	if a.disabled {
		return errors.New("ACL support disabled")
	}
	meta := func(m *structs.QueryMeta) { m.Index, m.KnownLeader = a.idx, true }
	switch method {
	case structs.MethodACLBootstrap:
		if a.bootstrapped {
			return errors.New("ACL bootstrap no longer allowed (reset index: 10)")
		}
		a.bootstrapped = true
		a.idx++
		secret := args.(*structs.ACLBootstrapRequest).BootstrapSecret
		if secret == "" {
			secret = "root"
		}
		t := &structs.ACLToken{AccessorID: a.newID(), SecretID: secret, Description: "Bootstrap Token (Global Management)",
			Policies:   []*structs.ACLLink{{ID: structs.ACLPolicyGlobalManagementID, Name: structs.ACLPolicyGlobalManagementName}},
			CreateTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), CreateIndex: a.idx, ModifyIndex: a.idx}
		a.tokens[t.AccessorID] = t
		*reply.(*structs.ACLToken) = *t
	case structs.MethodACLTokenSet:
		in := args.(*structs.ACLTokenSetRequest)
		if err := a.allowed(in.WriteRequest.Token); err != nil {
			return err
		}
		t := in.ACLToken
		if in.Create {
			if t.AccessorID == "" {
				t.AccessorID = a.newID()
			}
			if t.SecretID == "" {
				t.SecretID = a.newID()
			}
			t.CreateTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		} else {
			old := a.tokens[t.AccessorID]
			if old == nil {
				return &structs.BadRequestError{Reason: "Cannot find token " + t.AccessorID}
			}
			t.SecretID, t.CreateTime = old.SecretID, old.CreateTime
		}
		a.idx++
		t.CreateIndex, t.ModifyIndex = a.idx, a.idx
		a.tokens[t.AccessorID] = &t
		*reply.(*structs.ACLToken) = t
	case structs.MethodACLTokenRead:
		in := args.(*structs.ACLTokenGetRequest)
		out := reply.(*structs.ACLTokenResponse)
		meta(&out.QueryMeta)
		for _, t := range a.tokens {
			if (in.BySecret && t.SecretID == in.TokenID) || (!in.BySecret && t.AccessorID == in.TokenID) {
				c := *t
				out.Token = &c
			}
		}
	case structs.MethodACLTokenDelete:
		in := args.(*structs.ACLTokenDeleteRequest)
		if err := a.allowed(in.Token); err != nil {
			return err
		}
		delete(a.tokens, in.TokenID)
		a.idx++
		*reply.(*string) = in.TokenID
	case structs.MethodACLTokenList:
		out := reply.(*structs.ACLTokensResponse)
		meta(&out.QueryMeta)
		for _, t := range a.tokens {
			c := *t
			out.Tokens = append(out.Tokens, &c)
		}
	case structs.MethodACLPolicySet:
		in := args.(*structs.ACLPolicySetRequest)
		if err := a.allowed(in.Token); err != nil {
			return err
		}
		p := in.Policy
		if p.ID == "" {
			p.ID = a.newID()
		}
		a.idx++
		p.CreateIndex, p.ModifyIndex = a.idx, a.idx
		a.policies[p.ID] = &p
		*reply.(*structs.ACLPolicy) = p
	case structs.MethodACLPolicyRead:
		in := args.(*structs.ACLPolicyGetRequest)
		out := reply.(*structs.ACLPolicyResponse)
		meta(&out.QueryMeta)
		for _, p := range a.policies {
			if (in.ByName && p.Name == in.PolicyID) || (!in.ByName && p.ID == in.PolicyID) {
				c := *p
				out.Policy = &c
			}
		}
	case structs.MethodACLPolicyDelete:
		in := args.(*structs.ACLPolicyDeleteRequest)
		delete(a.policies, in.PolicyID)
		*reply.(*string) = in.PolicyID
	case structs.MethodACLPolicyList:
		out := reply.(*structs.ACLPoliciesResponse)
		meta(&out.QueryMeta)
		for _, p := range a.policies {
			c := *p
			out.Policies = append(out.Policies, &c)
		}
	case structs.MethodACLRoleSet:
		in := args.(*structs.ACLRoleSetRequest)
		ro := in.Role
		if ro.ID == "" {
			ro.ID = a.newID()
		}
		a.idx++
		ro.CreateIndex, ro.ModifyIndex = a.idx, a.idx
		a.roles[ro.ID] = &ro
		*reply.(*structs.ACLRole) = ro
	case structs.MethodACLRoleRead:
		in := args.(*structs.ACLRoleGetRequest)
		out := reply.(*structs.ACLRoleResponse)
		meta(&out.QueryMeta)
		for _, ro := range a.roles {
			if (in.ByName && ro.Name == in.RoleID) || (!in.ByName && ro.ID == in.RoleID) {
				c := *ro
				out.Role = &c
			}
		}
	case structs.MethodACLRoleDelete:
		id := args.(*structs.ACLRoleDeleteRequest).RoleID
		delete(a.roles, id)
		*reply.(*string) = id
	case structs.MethodACLRoleList:
		out := reply.(*structs.ACLRolesResponse)
		meta(&out.QueryMeta)
		for _, ro := range a.roles {
			c := *ro
			out.Roles = append(out.Roles, &c)
		}
	case structs.MethodACLReplicationStatus:
		*reply.(*structs.ACLReplicationStatus) = structs.ACLReplicationStatus{Enabled: true, Running: true,
			SourceDatacenter: "dc1", ReplicationType: "tokens", ReplicatedIndex: 7}
	default:
		return fmt.Errorf("%w: %s", structs.ErrUnknownMethod, method)
	}
	return nil
}

func newACLTestServer(t *testing.T, a *aclAgent, token string) (*api.Client, *httptest.Server) {
	t.Helper()
	ts := httptest.NewServer(mustNew(t, DefaultConfig(), a).Handler())
	t.Cleanup(ts.Close)
	c, err := api.NewClient(&api.Config{Address: ts.Listener.Addr().String(), HttpClient: ts.Client(), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c, ts
}

func TestACLWithOfficialClient(t *testing.T) {
	a := newACLAgent()
	anon, _ := newACLTestServer(t, a, "")
	boot, _, err := anon.ACL().Bootstrap()
	if err != nil {
		t.Fatal(err)
	}
	if boot.SecretID != "root" || boot.AccessorID == "" || len(boot.Policies) != 1 || boot.Policies[0].Name != "global-management" {
		t.Fatalf("bootstrap %+v", boot)
	}
	if _, _, err := anon.ACL().Bootstrap(); err == nil || !strings.Contains(err.Error(), "403") ||
		!strings.Contains(err.Error(), "Permission denied: ACL bootstrap no longer allowed") {
		t.Fatalf("second bootstrap: %v", err)
	}

	c, ts := newACLTestServer(t, a, "root")
	acl := c.ACL()
	pol, _, err := acl.PolicyCreate(&api.ACLPolicy{Name: "web", Description: "d", Rules: `service "web" { policy = "write" }`}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pol.ID == "" || pol.Name != "web" || pol.Rules == "" {
		t.Fatalf("policy %+v", pol)
	}
	if got := a.lastArgs(structs.MethodACLPolicySet).(*structs.ACLPolicySetRequest); got.Token != "root" {
		t.Fatalf("policy set token %q", got.Token)
	}
	pol.Description = "d2"
	if up, _, err := acl.PolicyUpdate(pol, nil); err != nil || up.Description != "d2" || up.ID != pol.ID {
		t.Fatalf("policy update %+v %v", up, err)
	}
	byName, qm, err := acl.PolicyReadByName("web", nil)
	if err != nil || byName == nil || byName.ID != pol.ID || qm.LastIndex == 0 {
		t.Fatalf("by name %+v %+v %v", byName, qm, err)
	}
	if p, _, err := acl.PolicyReadByName("nope", nil); err == nil || p != nil {
		t.Fatalf("missing by name %+v %v", p, err)
	}
	if _, _, err := acl.PolicyRead("nope", nil); err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "ACL not found") {
		t.Fatalf("missing policy: %v", err)
	}
	pols, _, err := acl.PolicyList(nil)
	if err != nil || len(pols) != 1 || pols[0].Name != "web" {
		t.Fatalf("policies %+v %v", pols, err)
	}

	role, _, err := acl.RoleCreate(&api.ACLRole{Name: "r1", Policies: []*api.ACLRolePolicyLink{{ID: pol.ID}},
		ServiceIdentities: []*api.ACLServiceIdentity{{ServiceName: "api"}}}, nil)
	if err != nil || role.ID == "" || len(role.ServiceIdentities) != 1 {
		t.Fatalf("role %+v %v", role, err)
	}
	if r, _, err := acl.RoleReadByName("r1", nil); err != nil || r == nil || r.ID != role.ID {
		t.Fatalf("role by name %+v %v", r, err)
	}
	if r, _, err := acl.RoleRead("missing", nil); err != nil || r != nil {
		t.Fatalf("missing role %+v %v", r, err)
	}
	if roles, _, err := acl.RoleList(nil); err != nil || len(roles) != 1 {
		t.Fatalf("roles %+v %v", roles, err)
	}

	tok, _, err := acl.TokenCreate(&api.ACLToken{Description: "web token", Policies: []*api.ACLTokenPolicyLink{{Name: "web"}},
		Roles: []*api.ACLTokenRoleLink{{ID: role.ID}}, Local: true, ExpirationTTL: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessorID == "" || tok.SecretID == "" || !tok.Local || tok.ExpirationTTL != time.Hour {
		t.Fatalf("token %+v", tok)
	}
	if set := a.lastArgs(structs.MethodACLTokenSet).(*structs.ACLTokenSetRequest); !set.Create {
		t.Fatalf("create flag %+v", set)
	}
	read, _, err := acl.TokenRead(tok.AccessorID, nil)
	if err != nil || read.Description != "web token" || read.Policies[0].Name != "web" {
		t.Fatalf("read %+v %v", read, err)
	}
	if _, _, err := acl.TokenRead("nope", nil); err == nil || !strings.Contains(err.Error(), "ACL not found") {
		t.Fatalf("missing token: %v", err)
	}
	read.Description = "changed"
	if up, _, err := acl.TokenUpdate(read, nil); err != nil || up.Description != "changed" || up.SecretID != tok.SecretID {
		t.Fatalf("update %+v %v", up, err)
	}
	if set := a.lastArgs(structs.MethodACLTokenSet).(*structs.ACLTokenSetRequest); set.Create || set.ACLToken.AccessorID != tok.AccessorID {
		t.Fatalf("update args %+v", set)
	}
	cl, _, err := acl.TokenClone(tok.AccessorID, "cloned", nil)
	if err != nil || cl.AccessorID == tok.AccessorID || cl.Description != "cloned" || !cl.Local || len(cl.Policies) != 1 || len(cl.Roles) != 1 {
		t.Fatalf("clone %+v %v", cl, err)
	}
	list, _, err := acl.TokenList(nil)
	if err != nil || len(list) != 3 {
		t.Fatalf("list %d %v", len(list), err)
	}
	self, _, err := acl.TokenReadSelf(nil)
	if err != nil || self.AccessorID != boot.AccessorID {
		t.Fatalf("self %+v %v", self, err)
	}
	if tl := a.lastArgs(structs.MethodACLTokenRead).(*structs.ACLTokenGetRequest); !tl.BySecret || tl.TokenID != "root" {
		t.Fatalf("self args %+v", tl)
	}
	if _, err := acl.TokenDelete(cl.AccessorID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := acl.RoleDelete(role.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := acl.PolicyDelete(pol.ID, nil); err != nil {
		t.Fatal(err)
	}
	rep, _, err := acl.Replication(nil)
	if err != nil || !rep.Enabled || rep.ReplicationType != "tokens" {
		t.Fatalf("replication %+v %v", rep, err)
	}

	// A token that may not write: 403 Permission denied.
	weak, _ := newACLTestServer(t, a, tok.SecretID)
	if _, _, err := weak.ACL().PolicyCreate(&api.ACLPolicy{Name: "x"}, nil); err == nil ||
		!strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "Permission denied") {
		t.Fatalf("weak write: %v", err)
	}
	// An unknown secret reading itself: 403 ACL not found.
	unknown, _ := newACLTestServer(t, a, "who")
	if _, _, err := unknown.ACL().TokenReadSelf(nil); err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "ACL not found") {
		t.Fatalf("unknown self: %v", err)
	}

	// The agent token endpoint, with current and legacy names.
	if _, err := c.Agent().UpdateAgentACLToken("agent-secret", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Agent().UpdateAgentMasterACLToken("rec", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Agent().UpdateDefaultACLToken("dflt", nil); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	got := fmt.Sprint(a.agentTokens)
	a.mu.Unlock()
	if got != "map[agent:agent-secret agent_recovery:rec default:dflt]" {
		t.Fatalf("agent tokens %s", got)
	}
	if code, body, _ := do(t, ts, "PUT", "/v1/agent/token/bogus", `{"Token":"x"}`); code != 404 || !strings.Contains(body, `Token "bogus" is unknown`) {
		t.Fatalf("bogus kind %d %s", code, body)
	}
}

func TestACLTokenSources(t *testing.T) {
	a := newACLAgent()
	_, ts := newACLTestServer(t, a, "")
	for _, tc := range []struct {
		name string
		set  func(r *http.Request)
	}{
		{"header", func(r *http.Request) { r.Header.Set("X-Consul-Token", "tok1") }},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "bearer  tok1 ") }},
		{"query wins", func(r *http.Request) {
			r.Header.Set("X-Consul-Token", "other")
			q := r.URL.Query()
			q.Set("token", "tok1")
			r.URL.RawQuery = q.Encode()
		}},
		{"header before bearer", func(r *http.Request) {
			r.Header.Set("X-Consul-Token", "tok1")
			r.Header.Set("Authorization", "Bearer other")
		}},
		{"query", func(r *http.Request) { q := r.URL.Query(); q.Set("token", "tok1"); r.URL.RawQuery = q.Encode() }},
	} {
		req, _ := http.NewRequest("GET", ts.URL+"/v1/acl/policies?index=3&wait=10ms", nil)
		tc.set(req)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Consul-Index") != "10" {
			t.Fatalf("%s: %d %v", tc.name, resp.StatusCode, resp.Header)
		}
		args := a.lastArgs(structs.MethodACLPolicyList).(*structs.DCSpecificRequest)
		if args.Token != "tok1" || args.MinQueryIndex != 3 || args.MaxQueryTime != 10*time.Millisecond {
			t.Fatalf("%s: args %+v", tc.name, args.QueryOptions)
		}
	}
}

func TestACLErrorsAndBodies(t *testing.T) {
	a := newACLAgent()
	_, ts := newACLTestServer(t, a, "")
	for _, tc := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"PUT", "/v1/acl/policy/abc", `{"ID":"other","Name":"x"}`, 400, "Policy ID in URL and payload do not match"},
		{"PUT", "/v1/acl/role/abc", `{"ID":"other","Name":"x"}`, 400, "Role ID in URL and payload do not match"},
		{"PUT", "/v1/acl/token/abc", `{"AccessorID":"other"}`, 400, "Token Accessor ID in URL and payload do not match"},
		{"PUT", "/v1/acl/token", `{"ExpirationTTL":"bogus"}`, 400, "Request decode failed"},
		{"PUT", "/v1/acl/token", `not json`, 400, "Request decode failed"},
		{"GET", "/v1/acl/token/", "", 400, "Missing token ID"},
		{"GET", "/v1/acl/policy/name/", "", 400, "Missing policy Name"},
		{"POST", "/v1/acl/tokens", "", 405, ""},
		{"PUT", "/v1/agent/token/agent", ``, 400, "Request decode failed"},
	} {
		code, body, _ := do(t, ts, tc.method, tc.path, tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s: %d %q", tc.method, tc.path, code, body)
		}
	}
	// A string ExpirationTTL is accepted, as Consul.
	a.mu.Lock()
	a.tokens["x"] = &structs.ACLToken{AccessorID: "x", SecretID: "root"}
	a.mu.Unlock()
	req, _ := http.NewRequest("PUT", ts.URL+"/v1/acl/token", strings.NewReader(`{"ExpirationTTL":"2h","Description":"s"}`))
	req.Header.Set("X-Consul-Token", "root")
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if set := a.lastArgs(structs.MethodACLTokenSet).(*structs.ACLTokenSetRequest); resp.StatusCode != 200 || set.ACLToken.ExpirationTTL != 2*time.Hour {
		t.Fatalf("string TTL: %d %+v", resp.StatusCode, set.Token)
	}

	// ACLs disabled: 401 "ACL support disabled" everywhere, agent tokens too.
	a.mu.Lock()
	a.disabled = true
	a.mu.Unlock()
	for _, p := range []string{"/v1/acl/policies", "/v1/acl/token/self", "/v1/acl/replication"} {
		if code, body, _ := do(t, ts, "GET", p, ""); code != 401 || body != "ACL support disabled" {
			t.Errorf("%s disabled: %d %q", p, code, body)
		}
	}
	if code, body, _ := do(t, ts, "PUT", "/v1/agent/token/default", `{"Token":"x"}`); code != 401 || body != "ACL support disabled" {
		t.Errorf("agent token disabled: %d %q", code, body)
	}
}
