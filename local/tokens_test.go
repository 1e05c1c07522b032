package local

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
)

// fakeTokens is a token store: AgentToken falls back to the default
// token, as tokenstore's does.
type fakeTokens struct {
	mu                      sync.Mutex
	user, agent, configFile string
}

func (t *fakeTokens) UserToken() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.user
}

func (t *fakeTokens) AgentToken() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.agent != "" {
		return t.agent
	}
	return t.user
}

func (t *fakeTokens) ConfigFileServiceRegistrationToken() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.configFile
}

// tokenCall is one RPC as the servers saw it: what it touched and with
// which token.
type tokenCall struct {
	method structs.Method
	what   string // "node", "service:<id>", "check:<id>", "read"
	token  string
}

// tokenRecorder wraps a fake catalog, records every call's token and
// refuses (Permission denied) the calls deny says no to.
type tokenRecorder struct {
	f     *fakeCatalog
	mu    sync.Mutex
	calls []tokenCall
	deny  func(c tokenCall) bool
}

func (r *tokenRecorder) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	tok := ""
	if th, ok := args.(structs.TokenHolder); ok {
		tok = th.TokenSecret()
	}
	var calls []tokenCall
	switch a := args.(type) {
	case *structs.RegisterRequest:
		if a.Service != nil {
			calls = append(calls, tokenCall{method, "service:" + a.Service.ID, tok})
		}
		if a.Check != nil {
			calls = append(calls, tokenCall{method, "check:" + a.Check.CheckID, tok})
		}
		for _, c := range a.Checks {
			calls = append(calls, tokenCall{method, "check:" + c.CheckID, tok})
		}
		if len(calls) == 0 {
			calls = append(calls, tokenCall{method, "node", tok})
		}
	case *structs.DeregisterRequest:
		what := "node"
		if a.ServiceID != "" {
			what = "service:" + a.ServiceID
		} else if a.CheckID != "" {
			what = "check:" + a.CheckID
		}
		calls = append(calls, tokenCall{method, what, tok})
	default:
		calls = append(calls, tokenCall{method, "read", tok})
	}
	r.mu.Lock()
	r.calls = append(r.calls, calls...)
	deny := r.deny
	r.mu.Unlock()
	if deny != nil {
		for _, c := range calls {
			if deny(c) {
				return fmt.Errorf("rpc error: %w", structs.ErrPermissionDenied)
			}
		}
	}
	return r.f.RPC(ctx, method, args, reply)
}

// tokensFor returns the tokens the calls touching what carried, in order.
func (r *tokenRecorder) tokensFor(method structs.Method, what string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.calls {
		if c.method == method && c.what == what {
			out = append(out, c.token)
		}
	}
	return out
}

func (r *tokenRecorder) reset() {
	r.mu.Lock()
	r.calls = nil
	r.mu.Unlock()
}

func newTokenState(t *testing.T, cfg Config, r *tokenRecorder) *State {
	t.Helper()
	return startTestState(t, cfg, r.RPC)
}

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantTokens(t *testing.T, r *tokenRecorder, method structs.Method, what string, want ...string) {
	t.Helper()
	if got := r.tokensFor(method, what); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s %s: tokens %q, want %q", method, what, got, want)
	}
}

// TestSyncUsesEachRegistrationsToken: every service and check syncs with
// the token its registration carried; without one, a config-file
// definition with config_file_service_registration, anything else with
// the default token; the node's info and the reads with the agent token.
// A check rides on its service's registration only with the same token.
func TestSyncUsesEachRegistrationsToken(t *testing.T) {
	r := &tokenRecorder{f: newFakeCatalog()}
	cfg := testConfig()
	toks := &fakeTokens{user: "dflt", agent: "agt", configFile: "cfgfile"}
	cfg.Tokens = toks
	s := newTokenState(t, cfg, r)
	ttl := func() []*structs.CheckType { return []*structs.CheckType{{TTL: time.Minute}} }

	must(t, s.AddServiceWithToken(&structs.NodeService{ID: "api-tok", Service: "api"}, ttl(), false, SourceAPI, "t-api", true))
	must(t, s.AddService(&structs.NodeService{ID: "api-none", Service: "api"}, nil, false, SourceAPI))
	must(t, s.ReplaceConfigServices([]*structs.ServiceDefinition{
		{ID: "cfg-tok", Name: "cfg", Token: "t-cfg", Check: &structs.CheckType{TTL: time.Minute}},
		{ID: "cfg-none", Name: "cfg"},
	}, []*structs.CheckType{{CheckID: "cfg-chk", Name: "cfg-chk", TTL: time.Minute, Token: "t-cfgchk"}}))
	must(t, s.AddCheckWithToken(&structs.HealthCheck{CheckID: "c-tok", Name: "c"}, &structs.CheckType{TTL: time.Minute}, false, "t-chk"))
	must(t, s.AddCheck(&structs.HealthCheck{CheckID: "c-none", Name: "c"}, &structs.CheckType{TTL: time.Minute}, false))
	// A check on api-tok with a token of its own goes on its own.
	must(t, s.AddCheckWithToken(&structs.HealthCheck{CheckID: "c-other", Name: "c", ServiceID: "api-tok"}, &structs.CheckType{TTL: time.Minute}, false, "t-other"))
	// Maintenance checks carry the request's token, or fall back as any
	// API registration (as Consul).
	must(t, s.EnableServiceMaintenance("api-tok", "", "t-maint"))
	must(t, s.EnableNodeMaintenance("", ""))
	must(t, s.SyncFull(bg))

	reg := structs.MethodCatalogRegister
	wantTokens(t, r, reg, "node", "agt")
	wantTokens(t, r, structs.MethodCatalogNodeServices, "read", "agt")
	wantTokens(t, r, structs.MethodHealthNodeChecks, "read", "agt")
	wantTokens(t, r, reg, "service:api-tok", "t-api")
	wantTokens(t, r, reg, "check:service:api-tok", "t-api")
	wantTokens(t, r, reg, "check:"+ServiceMaintCheckID("api-tok"), "t-maint")
	wantTokens(t, r, reg, "check:c-other", "t-other")
	wantTokens(t, r, reg, "service:api-none", "dflt")
	wantTokens(t, r, reg, "service:cfg-tok", "t-cfg")
	wantTokens(t, r, reg, "check:service:cfg-tok", "t-cfg")
	wantTokens(t, r, reg, "service:cfg-none", "cfgfile")
	wantTokens(t, r, reg, "check:cfg-chk", "t-cfgchk")
	wantTokens(t, r, reg, "check:c-tok", "t-chk")
	wantTokens(t, r, reg, "check:c-none", "dflt")
	wantTokens(t, r, reg, "check:"+structs.NodeMaintCheckID, "dflt")

	// Without config_file_service_registration a config definition
	// falls back to the default token; tokens are read at each sync.
	toks.mu.Lock()
	toks.configFile, toks.user = "", "dflt2"
	toks.mu.Unlock()
	r.reset()
	must(t, s.ReplaceConfigServices([]*structs.ServiceDefinition{
		{ID: "cfg-tok", Name: "cfg", Token: "t-cfg", Check: &structs.CheckType{TTL: time.Minute}},
		{ID: "cfg-none", Name: "cfg", Port: 81},
	}, []*structs.CheckType{{CheckID: "cfg-chk", Name: "cfg-chk", TTL: time.Minute, Token: "t-cfgchk"}}))
	must(t, s.SyncChanges(bg))
	wantTokens(t, r, reg, "service:cfg-none", "dflt2")
}

// TestRegistrationTokenFallbackOrder pins the order: the registration's
// token, then (config files only) config_file_service_registration, then
// the default token, else none.
func TestRegistrationTokenFallbackOrder(t *testing.T) {
	cfg := testConfig()
	for _, tc := range []struct {
		toks          *fakeTokens
		token, source string
		want, from    string
	}{
		{&fakeTokens{user: "u", configFile: "c"}, "own", SourceConfig, "own", tokenFromRegistration},
		{&fakeTokens{user: "u", configFile: "c"}, "", SourceConfig, "c", tokenFromConfigFile},
		{&fakeTokens{user: "u", configFile: "c"}, "", SourceAPI, "u", tokenFromDefault},
		{&fakeTokens{user: "u"}, "", SourceConfig, "u", tokenFromDefault},
		{&fakeTokens{agent: "a"}, "", SourceAPI, "", tokenFromNone},
		{nil, "own", SourceAPI, "own", tokenFromRegistration},
		{nil, "", SourceConfig, "", tokenFromNone},
	} {
		c := cfg
		if tc.toks != nil {
			c.Tokens = tc.toks
		}
		s := newTestState(t, c, newFakeCatalog())
		got := s.registrationToken(tc.token, tc.source)
		if got.secret != tc.want || got.from != tc.from {
			t.Errorf("%+v %q %q: got %+v, want %q from %q", tc.toks, tc.token, tc.source, got, tc.want, tc.from)
		}
	}
}

// TestDeregistrationUsesRegistrationToken: a removed service or check is
// deregistered with the token it was registered with, kept until then;
// when the servers refuse that one (deleted since) the agent token
// follows; one registered without a token, and what only the catalog
// had, go with the agent token alone (never the default or config-file
// fallbacks first, as Consul).
func TestDeregistrationUsesRegistrationToken(t *testing.T) {
	r := &tokenRecorder{f: newFakeCatalog()}
	cfg := testConfig()
	cfg.Tokens = &fakeTokens{user: "dflt", agent: "agt", configFile: "cfgf"}
	s := newTokenState(t, cfg, r)
	must(t, s.AddServiceWithToken(&structs.NodeService{ID: "web1", Service: "web"}, nil, false, SourceAPI, "t-web", true))
	must(t, s.AddServiceWithToken(&structs.NodeService{ID: "gone1", Service: "gone"}, nil, false, SourceAPI, "t-deleted", true))
	must(t, s.AddCheckWithToken(&structs.HealthCheck{CheckID: "c1", Name: "c1"}, &structs.CheckType{TTL: time.Minute}, false, "t-c1"))
	must(t, s.AddService(&structs.NodeService{ID: "plain1", Service: "plain"}, nil, false, SourceAPI))
	must(t, s.AddCheck(&structs.HealthCheck{CheckID: "c2", Name: "c2"}, &structs.CheckType{TTL: time.Minute}, false))
	must(t, s.ReplaceConfigServices([]*structs.ServiceDefinition{{ID: "cfg1", Name: "cfg"}}, nil))
	must(t, s.SyncFull(bg))
	// Something only the catalog has.
	r.f.mu.Lock()
	r.f.services["stray"] = &structs.NodeService{ID: "stray", Service: "stray"}
	r.f.mu.Unlock()

	r.mu.Lock()
	r.deny = func(c tokenCall) bool { return c.token == "t-deleted" }
	r.mu.Unlock()
	must(t, s.RemoveService("web1", false))
	must(t, s.RemoveService("gone1", false))
	must(t, s.RemoveCheck("c1", false))
	must(t, s.RemoveService("plain1", false))
	must(t, s.RemoveCheck("c2", false))
	must(t, s.ReplaceConfigServices(nil, nil))
	must(t, s.SyncFull(bg))

	dereg := structs.MethodCatalogDeregister
	wantTokens(t, r, dereg, "service:web1", "t-web")
	wantTokens(t, r, dereg, "check:c1", "t-c1")
	wantTokens(t, r, dereg, "service:gone1", "t-deleted", "agt")
	wantTokens(t, r, dereg, "service:stray", "agt")
	wantTokens(t, r, dereg, "service:plain1", "agt")
	wantTokens(t, r, dereg, "check:c2", "agt")
	wantTokens(t, r, dereg, "service:cfg1", "agt")
	for _, id := range []string{"web1", "gone1", "stray", "plain1", "cfg1"} {
		if r.f.service(id) != nil {
			t.Errorf("%s still in the catalog", id)
		}
	}
	if r.f.check("c1") != nil {
		t.Error("c1 still in the catalog")
	}
}

// TestACLRefusalDoesNotHoldUpOthers: a registration the servers refuse
// for its token is logged (naming where the token came from, never the
// secret) and left for the next full sync; the others still sync, and
// the sync reports no error.
func TestACLRefusalDoesNotHoldUpOthers(t *testing.T) {
	const secret = "s3cr3t-no-rights"
	r := &tokenRecorder{f: newFakeCatalog(), deny: func(c tokenCall) bool { return c.token == secret }}
	var logs bytes.Buffer
	var logMu sync.Mutex
	cfg := testConfig()
	cfg.Tokens = &fakeTokens{agent: "agt"}
	cfg.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))
	s := newTokenState(t, cfg, r)
	if err := s.AddServiceWithToken(&structs.NodeService{ID: "bad", Service: "bad"}, nil, false, SourceAPI, secret, true); err != nil {
		t.Fatal(err)
	}
	if err := s.AddServiceWithToken(&structs.NodeService{ID: "good", Service: "good"}, nil, false, SourceAPI, "t-good", true); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCheckWithToken(&structs.HealthCheck{CheckID: "bad-chk", Name: "b"}, &structs.CheckType{TTL: time.Minute}, false, secret); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncFull(bg); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if r.f.service("good") == nil || r.f.service("bad") != nil || r.f.check("bad-chk") != nil {
		t.Fatalf("catalog: good %v bad %v bad-chk %v", r.f.service("good"), r.f.service("bad"), r.f.check("bad-chk"))
	}
	// Left until the next full sync, which tries again.
	r.reset()
	if err := s.SyncChanges(bg); err != nil {
		t.Fatal(err)
	}
	wantTokens(t, r, structs.MethodCatalogRegister, "service:bad")
	if err := s.SyncFull(bg); err != nil {
		t.Fatal(err)
	}
	wantTokens(t, r, structs.MethodCatalogRegister, "service:bad", secret)
	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	if !strings.Contains(out, "Service registration blocked by ACLs") || !strings.Contains(out, tokenFromRegistration) ||
		!strings.Contains(out, "Check registration blocked by ACLs") {
		t.Errorf("logs lack the warnings:\n%s", out)
	}
	if strings.Contains(out, secret) || strings.Contains(out, "t-good") {
		t.Errorf("a token secret reached the logs:\n%s", out)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestTokensPersistWithRegistrations: a persisted service and check
// come back with their tokens; a file written before tokens were kept
// loads with none (the default token then applies); the listings never
// show a token.
func TestTokensPersistWithRegistrations(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.DataDir = dir
	cfg.Tokens = &fakeTokens{user: "dflt", agent: "agt"}
	r1 := &tokenRecorder{f: newFakeCatalog()}
	s1 := newTokenState(t, cfg, r1)
	if err := s1.AddServiceWithToken(&structs.NodeService{ID: "web1", Service: "web"}, []*structs.CheckType{{TTL: time.Minute}}, true, SourceAPI, "t-web", true); err != nil {
		t.Fatal(err)
	}
	if err := s1.AddCheckWithToken(&structs.HealthCheck{CheckID: "c1", Name: "c1"}, &structs.CheckType{TTL: time.Minute}, true, "t-c1"); err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{s1.Services(), s1.Checks(), s1.CheckDefinition("c1"), s1.CheckDefinition("service:web1")} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("t-web")) || bytes.Contains(b, []byte("t-c1")) {
			t.Fatalf("a token in a listing: %s", b)
		}
	}
	// A service file as an older version wrote it: no Token.
	old := `{"Service":{"ID":"old1","Service":"old","Port":90,"Weights":{"Passing":1,"Warning":1}},"Source":"api"}`
	if err := os.WriteFile(filepath.Join(dir, servicesDir, fileName("old1")), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	oldChk := `{"Check":{"CheckID":"oldc","Name":"oldc","Status":"passing"},"ChkType":{"TTL":60000000000},"Source":"api"}`
	if err := os.WriteFile(filepath.Join(dir, checksDir, fileName("oldc")), []byte(oldChk), 0o600); err != nil {
		t.Fatal(err)
	}

	r2 := &tokenRecorder{f: newFakeCatalog()}
	s2 := newTokenState(t, cfg, r2)
	if s2.Service("old1") == nil || s2.Check("oldc") == nil || s2.Service("web1") == nil || s2.Check("c1") == nil {
		t.Fatalf("not restored: %v %v", s2.Services(), s2.Checks())
	}
	if err := s2.SyncFull(bg); err != nil {
		t.Fatal(err)
	}
	reg := structs.MethodCatalogRegister
	wantTokens(t, r2, reg, "service:web1", "t-web")
	wantTokens(t, r2, reg, "check:service:web1", "t-web")
	wantTokens(t, r2, reg, "check:c1", "t-c1")
	wantTokens(t, r2, reg, "service:old1", "dflt")
	wantTokens(t, r2, reg, "check:oldc", "dflt")
}

// TestAliasReadsWithItsChecksToken: an alias check of another node reads
// with its registration's token, else the default token, never the
// agent's.
func TestAliasReadsWithItsChecksToken(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]string{} // target node -> token
	cfg := testConfig()
	cfg.Tokens = &fakeTokens{user: "dflt", agent: "agt"}
	cfg.AliasRPC = func(ctx context.Context, method structs.Method, args, reply any) error {
		req := args.(*structs.NodeSpecificRequest)
		mu.Lock()
		seen[req.Node] = req.Token
		mu.Unlock()
		if method == structs.MethodHealthNodeChecks {
			out := reply.(*structs.IndexedHealthChecks)
			out.HealthChecks = structs.HealthChecks{{Node: req.Node, CheckID: "x", Name: "x", Status: structs.HealthPassing}}
			out.Index = 3
		}
		return nil
	}
	f := newFakeCatalog()
	s := newTestState(t, cfg, f)
	s.Start(bg)
	if err := s.AddCheckWithToken(&structs.HealthCheck{CheckID: "al-tok"}, &structs.CheckType{AliasNode: "n-tok"}, false, "t-alias"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddCheck(&structs.HealthCheck{CheckID: "al-none"}, &structs.CheckType{AliasNode: "n-none"}, false); err != nil {
		t.Fatal(err)
	}
	waitCheckStatus(t, s, "al-tok", structs.HealthPassing)
	waitCheckStatus(t, s, "al-none", structs.HealthPassing)
	mu.Lock()
	defer mu.Unlock()
	if seen["n-tok"] != "t-alias" || seen["n-none"] != "dflt" {
		t.Fatalf("alias tokens %v", seen)
	}
}

// TestTriggerFullSyncRetriesRefused: a registration refused for its token
// waits for the next full sync; TriggerFullSync (the agent calls it when
// a token changes) brings that sync forward.
func TestTriggerFullSyncRetriesRefused(t *testing.T) {
	r := &tokenRecorder{f: newFakeCatalog()}
	r.deny = func(c tokenCall) bool { return c.token == "dflt-old" && c.what == "service:web1" }
	toks := &fakeTokens{user: "dflt-old", agent: "agt"}
	cfg := testConfig() // full syncs hourly
	cfg.Tokens = toks
	s := newTokenState(t, cfg, r)
	s.Start(bg)
	if err := s.AddService(&structs.NodeService{ID: "web1", Service: "web"}, nil, false, SourceAPI); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 5*time.Second, "the refused registration", func() bool {
		return len(r.tokensFor(structs.MethodCatalogRegister, "service:web1")) > 0
	})
	toks.mu.Lock()
	toks.user = "dflt-new"
	toks.mu.Unlock()
	s.TriggerFullSync()
	testutil.WaitFor(t, 5*time.Second, "web1 synced with the new default token", func() bool {
		return r.f.service("web1") != nil
	})
	// The start-up full sync and the change's partial one may both have
	// tried the old token before; the last try used the new one.
	got := r.tokensFor(structs.MethodCatalogRegister, "service:web1")
	if len(got) < 2 || got[0] != "dflt-old" || got[len(got)-1] != "dflt-new" {
		t.Fatalf("tokens %q", got)
	}
}

// TestReRegistrationWithNewTokenSyncs: a service or check whose sync was
// refused for its token, re-registered unchanged but for the token,
// reaches the catalog at the next partial sync (Consul marks every
// re-registration out of sync), from the API as from a config reload.
func TestReRegistrationWithNewTokenSyncs(t *testing.T) {
	r := &tokenRecorder{f: newFakeCatalog()}
	r.deny = func(c tokenCall) bool { return c.token == "t-refused" }
	cfg := testConfig()
	cfg.Tokens = &fakeTokens{agent: "agt"}
	s := newTokenState(t, cfg, r)
	web := func() *structs.NodeService { return &structs.NodeService{ID: "web1", Service: "web", Port: 80} }
	chk := func() (*structs.HealthCheck, *structs.CheckType) {
		return &structs.HealthCheck{CheckID: "c1", Name: "c1"}, &structs.CheckType{TTL: time.Minute}
	}
	cfgDefs := func(token string) []*structs.ServiceDefinition {
		return []*structs.ServiceDefinition{{ID: "cfg1", Name: "cfg", Token: token}}
	}
	must(t, s.AddServiceWithToken(web(), nil, false, SourceAPI, "t-refused", true))
	hc, ct := chk()
	must(t, s.AddCheckWithToken(hc, ct, false, "t-refused"))
	must(t, s.ReplaceConfigServices(cfgDefs("t-refused"), nil))
	must(t, s.SyncFull(bg))
	if r.f.service("web1") != nil || r.f.check("c1") != nil || r.f.service("cfg1") != nil {
		t.Fatal("refused registrations reached the catalog")
	}

	must(t, s.AddServiceWithToken(web(), nil, false, SourceAPI, "t-good", true))
	hc, ct = chk()
	must(t, s.AddCheckWithToken(hc, ct, false, "t-good"))
	must(t, s.ReplaceConfigServices(cfgDefs("t-good"), nil))
	must(t, s.SyncChanges(bg))
	if r.f.service("web1") == nil || r.f.check("c1") == nil || r.f.service("cfg1") == nil {
		t.Fatalf("after re-registering with a good token: web1 %v c1 %v cfg1 %v",
			r.f.service("web1"), r.f.check("c1"), r.f.service("cfg1"))
	}
	reg := structs.MethodCatalogRegister
	wantTokens(t, r, reg, "service:web1", "t-refused", "t-good")
	wantTokens(t, r, reg, "check:c1", "t-refused", "t-good")
	wantTokens(t, r, reg, "service:cfg1", "t-refused", "t-good")

	// Re-registered with the same token (its rights granted since): it
	// syncs again too.
	r.reset()
	must(t, s.AddServiceWithToken(web(), nil, false, SourceAPI, "t-good", true))
	must(t, s.SyncChanges(bg))
	wantTokens(t, r, reg, "service:web1", "t-good")
}

// TestBlockedServiceHoldsItsChecks: a check with a token of its own on a
// service the servers refused waits for that service at every sync, not
// only the one that saw the refusal, so the catalog's "service not
// registered" never fails a sync and the others keep syncing.
func TestBlockedServiceHoldsItsChecks(t *testing.T) {
	r := &tokenRecorder{f: newFakeCatalog()}
	r.deny = func(c tokenCall) bool { return c.token == "t-refused" }
	cfg := testConfig()
	cfg.Tokens = &fakeTokens{agent: "agt"}
	s := newTokenState(t, cfg, r)
	must(t, s.AddServiceWithToken(&structs.NodeService{ID: "bad", Service: "bad"}, nil, false, SourceAPI, "t-refused", true))
	must(t, s.AddCheckWithToken(&structs.HealthCheck{CheckID: "bad-chk", Name: "b", ServiceID: "bad"},
		&structs.CheckType{TTL: time.Minute}, false, "t-chk"))
	must(t, s.SyncFull(bg))
	for i, id := range []string{"good1", "good2"} {
		must(t, s.AddServiceWithToken(&structs.NodeService{ID: id, Service: "good"}, nil, false, SourceAPI, "t-good", true))
		if err := s.SyncChanges(bg); err != nil {
			t.Fatalf("partial sync %d: %v", i+1, err)
		}
		if r.f.service(id) == nil {
			t.Fatalf("%s not synced", id)
		}
	}
	// A full sync refuses the service again; the check still waits.
	must(t, s.SyncFull(bg))
	must(t, s.SyncChanges(bg))
	wantTokens(t, r, structs.MethodCatalogRegister, "check:bad-chk")
	// Once the service goes in, so does its check.
	r.mu.Lock()
	r.deny = nil
	r.mu.Unlock()
	must(t, s.SyncFull(bg))
	if r.f.service("bad") == nil || r.f.check("bad-chk") == nil {
		t.Fatalf("after the refusal lifted: bad %v bad-chk %v", r.f.service("bad"), r.f.check("bad-chk"))
	}
	wantTokens(t, r, structs.MethodCatalogRegister, "check:bad-chk", "t-chk")
}
