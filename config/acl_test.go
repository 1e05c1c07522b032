package config

import (
	"reflect"
	"testing"
	"time"
)

func aclLoad(t *testing.T, srcs ...Source) *Runtime {
	t.Helper()
	rt, err := Load(LoadOpts{Sources: srcs, Flags: flags(func(c *Config) { c.DataDir = ptr(t.TempDir()); c.NodeName = ptr("n") })})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// aclView is the part of the Runtime the ACL keys decide.
type aclView struct {
	Enabled                   bool
	DefaultPolicy, DownPolicy string
	Persistence, Replication  bool
	TokenTTL, PolicyTTL       time.Duration
	RoleTTL                   time.Duration
	Tokens                    ACLTokensRuntime
	Primary                   string
}

func viewACL(rt *Runtime) aclView {
	return aclView{rt.ACLsEnabled, rt.ACLDefaultPolicy, rt.ACLDownPolicy, rt.ACLEnableTokenPersistence,
		rt.ACLEnableTokenReplication, rt.ACLTokenTTL, rt.ACLPolicyTTL, rt.ACLRoleTTL, rt.ACLTokens, rt.PrimaryDatacenter}
}

var aclDefaults = aclView{DefaultPolicy: "allow", DownPolicy: "extend-cache",
	TokenTTL: 30 * time.Second, PolicyTTL: 30 * time.Second, RoleTTL: 30 * time.Second, Primary: "dc1"}

func TestACLDefaults(t *testing.T) {
	rt := aclLoad(t, data("a.json", `{"datacenter": "east"}`))
	want := aclDefaults
	want.Primary = "east"
	if got := viewACL(rt); got != want {
		t.Errorf("acl:\n got %+v\nwant %+v", got, want)
	}
	if rt.Warnings != nil {
		t.Errorf("warnings = %q", rt.Warnings)
	}
}

// TestACLJSONAndHCL: the full stanza, in both formats.
func TestACLJSONAndHCL(t *testing.T) {
	js := `{"primary_datacenter": "DC1", "datacenter": "dc2", "acl": {"enabled": true, "default_policy": "deny",
		"down_policy": "async-cache", "enable_token_persistence": true, "enable_token_replication": true,
		"token_ttl": "1m", "policy_ttl": "2s", "role_ttl": "0s",
		"tokens": {"initial_management": "im", "agent": "ag", "agent_recovery": "ar", "default": "df",
			"replication": "rp", "config_file_service_registration": "cf"}}}`
	hcl := `primary_datacenter = "DC1"
datacenter = "dc2"
acl {
  enabled = true
  default_policy = "deny"
  down_policy = "async-cache"
  enable_token_persistence = true
  enable_token_replication = true
  token_ttl = "1m"
  policy_ttl = "2s"
  role_ttl = "0s"
  tokens {
    initial_management = "im"
    agent = "ag"
    agent_recovery = "ar"
    default = "df"
    replication = "rp"
    config_file_service_registration = "cf"
  }
}`
	want := aclView{Enabled: true, DefaultPolicy: "deny", DownPolicy: "async-cache", Persistence: true, Replication: true,
		TokenTTL: time.Minute, PolicyTTL: 2 * time.Second,
		Tokens:  ACLTokensRuntime{InitialManagement: "im", Agent: "ag", AgentRecovery: "ar", Default: "df", Replication: "rp", ConfigFileServiceRegistration: "cf"},
		Primary: "dc1"}
	for _, src := range []Source{data("a.json", js), data("a.hcl", hcl)} {
		rt := aclLoad(t, src)
		if got := viewACL(rt); got != want {
			t.Errorf("%s:\n got %+v\nwant %+v", src.Path, got, want)
		}
		if rt.Warnings != nil {
			t.Errorf("%s: warnings = %q", src.Path, rt.Warnings)
		}
	}
}

// TestACLLegacy: each deprecated key lands where Consul puts it, with its
// warning, in JSON and in HCL.
func TestACLLegacy(t *testing.T) {
	cases := []struct {
		key, val string // val as JSON and HCL literal
		warnNew  string
		change   func(v *aclView)
	}{
		{"acl_datacenter", `"dc9"`, "primary_datacenter", func(v *aclView) { v.Primary = "dc9"; v.Enabled = true }},
		{"acl_default_policy", `"deny"`, "acl.default_policy", func(v *aclView) { v.DefaultPolicy = "deny" }},
		{"acl_down_policy", `"allow"`, "acl.down_policy", func(v *aclView) { v.DownPolicy = "allow" }},
		{"acl_ttl", `"45s"`, "acl.token_ttl", func(v *aclView) { v.TokenTTL = 45 * time.Second }},
		{"acl_master_token", `"m"`, "acl.tokens.initial_management", func(v *aclView) { v.Tokens.InitialManagement = "m" }},
		{"acl_agent_token", `"a"`, "acl.tokens.agent", func(v *aclView) { v.Tokens.Agent = "a" }},
		{"acl_agent_master_token", `"am"`, "acl.tokens.agent_recovery", func(v *aclView) { v.Tokens.AgentRecovery = "am" }},
		{"acl_token", `"d"`, "acl.tokens.default", func(v *aclView) { v.Tokens.Default = "d" }},
		{"acl_replication_token", `"r"`, "acl.tokens.replication", func(v *aclView) { v.Tokens.Replication = "r"; v.Replication = true }},
		{"enable_acl_replication", `true`, "acl.enable_token_replication", func(v *aclView) { v.Replication = true }},
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			want := aclDefaults
			tc.change(&want)
			for _, src := range []Source{
				data("a.json", `{"`+tc.key+`": `+tc.val+`}`),
				data("a.hcl", tc.key+` = `+tc.val),
			} {
				rt := aclLoad(t, src)
				if got := viewACL(rt); got != want {
					t.Errorf("%s:\n got %+v\nwant %+v", src.Path, got, want)
				}
				w := src.Path + ": the '" + tc.key + "' field is deprecated; use the '" + tc.warnNew + "' field instead"
				if !reflect.DeepEqual(rt.Warnings, []string{w}) {
					t.Errorf("%s: warnings = %q, want %q", src.Path, rt.Warnings, w)
				}
			}
		})
	}
	// The 1.11 names inside acl.tokens.
	for _, src := range []Source{
		data("a.json", `{"acl": {"tokens": {"master": "m", "agent_master": "am"}}}`),
		data("a.hcl", "acl {\n  tokens {\n    master = \"m\"\n    agent_master = \"am\"\n  }\n}"),
	} {
		rt := aclLoad(t, src)
		want := aclDefaults
		want.Tokens.InitialManagement, want.Tokens.AgentRecovery = "m", "am"
		if got := viewACL(rt); got != want {
			t.Errorf("%s:\n got %+v\nwant %+v", src.Path, got, want)
		}
		ws := []string{
			src.Path + ": the 'acl.tokens.master' field is deprecated; use the 'acl.tokens.initial_management' field instead",
			src.Path + ": the 'acl.tokens.agent_master' field is deprecated; use the 'acl.tokens.agent_recovery' field instead",
		}
		if !reflect.DeepEqual(rt.Warnings, ws) {
			t.Errorf("%s: warnings = %q", src.Path, rt.Warnings)
		}
	}
}

// TestACLPrecedence: in one source the new key wins over its deprecated
// form; across sources the later source wins, whichever form it uses.
func TestACLPrecedence(t *testing.T) {
	cases := []struct {
		name   string
		srcs   []Source
		change func(v *aclView)
	}{
		{"new wins in one source", []Source{data("a.json", `{"acl_token": "old", "acl_default_policy": "allow",
			"acl": {"default_policy": "deny", "tokens": {"default": "new"}}}`)},
			func(v *aclView) { v.Tokens.Default = "new"; v.DefaultPolicy = "deny" }},
		{"new wins in one source, hcl", []Source{data("a.hcl", `acl_master_token = "old"
			acl { tokens { initial_management = "new" } }`)},
			func(v *aclView) { v.Tokens.InitialManagement = "new" }},
		{"initial_management beats master", []Source{data("a.json", `{"acl": {"tokens": {"master": "old", "initial_management": "new", "agent_master": "am"}}}`)},
			func(v *aclView) { v.Tokens.InitialManagement = "new"; v.Tokens.AgentRecovery = "am" }},
		{"agent_recovery beats acl_agent_master_token", []Source{data("a.json", `{"acl_agent_master_token": "old", "acl": {"tokens": {"agent_recovery": "new"}}}`)},
			func(v *aclView) { v.Tokens.AgentRecovery = "new" }},
		{"legacy in a later source wins", []Source{
			data("a.json", `{"acl": {"tokens": {"agent": "new"}, "down_policy": "deny"}}`),
			data("b.json", `{"acl_agent_token": "later", "acl_down_policy": "allow"}`)},
			func(v *aclView) { v.Tokens.Agent = "later"; v.DownPolicy = "allow" }},
		{"new in a later source wins", []Source{
			data("a.json", `{"acl_datacenter": "dc7"}`),
			data("b.hcl", `primary_datacenter = "dc8"`)},
			func(v *aclView) { v.Primary = "dc8"; v.Enabled = true }},
		{"explicit enabled beats acl_datacenter's implied one", []Source{data("a.json", `{"acl_datacenter": "dc7", "acl": {"enabled": false}}`)},
			func(v *aclView) { v.Primary = "dc7" }},
		{"explicit token replication beats acl_replication_token's implied one", []Source{data("a.json", `{"acl_replication_token": "r", "acl": {"enable_token_replication": false}}`)},
			func(v *aclView) { v.Tokens.Replication = "r" }},
		{"enable_acl_replication false beats acl_replication_token", []Source{data("a.json", `{"acl_replication_token": "r", "enable_acl_replication": false}`)},
			func(v *aclView) { v.Tokens.Replication = "r" }},
		{"tokens merge key by key", []Source{
			data("a.json", `{"acl": {"tokens": {"agent": "a", "default": "d"}}}`),
			data("b.hcl", `acl { tokens { default = "d2" } }`)},
			func(v *aclView) { v.Tokens.Agent = "a"; v.Tokens.Default = "d2" }},
		{"flags-like later empty primary keeps own dc", []Source{data("a.json", `{"primary_datacenter": ""}`)},
			func(v *aclView) {}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := aclDefaults
			tc.change(&want)
			if got := viewACL(aclLoad(t, tc.srcs...)); got != want {
				t.Errorf("acl:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// TestLegacyACLErrorNamesLaterKey: a later source that sets the new key
// takes the blame for its bad value, not the deprecated key before it.
func TestLegacyACLErrorNamesLaterKey(t *testing.T) {
	_, err := Load(LoadOpts{Sources: []Source{
		data("a.json", `{"acl_default_policy": "deny"}`),
		data("b.json", `{"acl": {"default_policy": "maybe"}}`),
	}, Flags: flags(func(c *Config) { c.DataDir = ptr("/tmp/x") })})
	want := `config: b.json: acl.default_policy: must be allow or deny, got "maybe"`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

// TestParseLeavesLegacyACLKeys: moving deprecated keys does not change
// the parsed source.
func TestParseLeavesLegacyACLKeys(t *testing.T) {
	c, err := Parse("a.json", []byte(`{"acl_token": "t", "acl": {"tokens": {"master": "m"}}}`), "json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := build([]namedConfig{{"a.json", c}}, true); err != nil {
		t.Fatal(err)
	}
	if c.LegacyACLToken == nil || c.ACL.Tokens.Default != nil || c.ACL.Tokens.InitialManagement != nil || *c.ACL.Tokens.LegacyMaster != "m" {
		t.Errorf("parsed source changed: %+v", c.ACL.Tokens)
	}
	if c.ACL.Enabled != nil {
		t.Errorf("parsed source changed: %+v", c.ACL)
	}
}
