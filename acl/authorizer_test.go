package acl

import "testing"

// check is one question to an authorizer and its expected answer.
type check struct {
	r      Resource
	name   string
	a      Access
	want   bool
	prefix bool // ask AllowPrefix instead of Allow
}

func mustParse(t *testing.T, rules string) *Policy {
	t.Helper()
	p, err := ParsePolicy(rules)
	if err != nil {
		t.Fatalf("ParsePolicy(%q): %v", rules, err)
	}
	return p
}

func runChecks(t *testing.T, authz Authorizer, checks []check) {
	t.Helper()
	for _, c := range checks {
		var got bool
		what := "Allow"
		if c.prefix {
			what = "AllowPrefix"
			got = authz.AllowPrefix(c.r, c.name, c.a)
		} else {
			got = authz.Allow(c.r, c.name, c.a)
		}
		if got != c.want {
			t.Errorf("%s(%s, %q, %s) = %v, want %v", what, c.r, c.name, c.a, got, c.want)
		}
	}
}

func TestAuthorizerPrecedence(t *testing.T) {
	cases := []struct {
		name         string
		defaultAllow bool
		policies     []string
		checks       []check
	}{
		{
			name: "exact beats prefix",
			policies: []string{`
key_prefix "" { policy = "read" }
key_prefix "foo/" { policy = "write" }
key_prefix "foo/private/" { policy = "deny" }
key "foo/bar/secret" { policy = "deny" }
key "foo/private/open" { policy = "read" }
`},
			checks: []check{
				{r: ResourceKey, name: "other", a: AccessRead, want: true},
				{r: ResourceKey, name: "other", a: AccessWrite, want: false},
				{r: ResourceKey, name: "foo/x", a: AccessWrite, want: true},
				{r: ResourceKey, name: "foo/bar/secret", a: AccessRead, want: false},
				{r: ResourceKey, name: "foo/bar/secret2", a: AccessWrite, want: true},
				{r: ResourceKey, name: "foo/private/x", a: AccessRead, want: false},
				{r: ResourceKey, name: "foo/private/open", a: AccessRead, want: true},
				{r: ResourceKey, name: "foo/private/open", a: AccessWrite, want: false},
				{r: ResourceKey, name: "foo/", a: AccessWrite, want: true},
				{r: ResourceKey, name: "foo", a: AccessWrite, want: false},
			},
		},
		{
			name: "longest prefix wins whatever the order",
			policies: []string{`
service_prefix "api-internal" { policy = "deny" }
service_prefix "" { policy = "write" }
service_prefix "api" { policy = "read" }
`},
			checks: []check{
				{r: ResourceService, name: "web", a: AccessWrite, want: true},
				{r: ResourceService, name: "api-public", a: AccessRead, want: true},
				{r: ResourceService, name: "api-public", a: AccessWrite, want: false},
				{r: ResourceService, name: "api-internal-db", a: AccessRead, want: false},
			},
		},
		{
			name:         "deny wins on merge at the same prefix",
			defaultAllow: true,
			policies: []string{
				`node_prefix "" { policy = "write" }`,
				`node_prefix "" { policy = "deny" }`,
				`node_prefix "" { policy = "read" }`,
			},
			checks: []check{
				{r: ResourceNode, name: "n1", a: AccessRead, want: false},
			},
		},
		{
			name:     "write beats read on merge, exact",
			policies: []string{`session "n1" { policy = "read" }`, `session "n1" { policy = "write" }`},
			checks: []check{
				{r: ResourceSession, name: "n1", a: AccessWrite, want: true},
				{r: ResourceSession, name: "n2", a: AccessRead, want: false},
			},
		},
		{
			name:     "deny beats write on merge, exact, same policy",
			policies: []string{"query \"q\" { policy = \"write\" }\nquery \"q\" { policy = \"deny\" }"},
			checks: []check{
				{r: ResourceQuery, name: "q", a: AccessRead, want: false},
			},
		},
		{
			name:     "list beats read on merge",
			policies: []string{`key_prefix "a/" { policy = "read" }`, `key_prefix "a/" { policy = "list" }`},
			checks: []check{
				{r: ResourceKey, name: "a/b", a: AccessList, want: true},
				{r: ResourceKey, name: "a/b", a: AccessWrite, want: false},
			},
		},
		{
			name:     "merged exact deny beats another policy's prefix write",
			policies: []string{`key_prefix "" { policy = "write" }`, `key "secret" { policy = "deny" }`},
			checks: []check{
				{r: ResourceKey, name: "secret", a: AccessRead, want: false},
				{r: ResourceKey, name: "secrets", a: AccessWrite, want: true},
			},
		},
		{
			name:     "more specific allow beats less specific deny across policies",
			policies: []string{`event_prefix "" { policy = "deny" }`, `event "deploy" { policy = "write" }`},
			checks: []check{
				{r: ResourceEvent, name: "deploy", a: AccessWrite, want: true},
				{r: ResourceEvent, name: "other", a: AccessRead, want: false},
			},
		},
		{
			name:     "write implies read and list",
			policies: []string{`key_prefix "w/" { policy = "write" }`, `agent "a1" { policy = "write" }`},
			checks: []check{
				{r: ResourceKey, name: "w/x", a: AccessRead, want: true},
				{r: ResourceKey, name: "w/x", a: AccessList, want: true},
				{r: ResourceKey, name: "w/x", a: AccessWrite, want: true},
				{r: ResourceAgent, name: "a1", a: AccessRead, want: true},
			},
		},
		{
			name:     "list and read semantics (Consul's enforce)",
			policies: []string{"key_prefix \"l/\" { policy = \"list\" }\nkey_prefix \"r/\" { policy = \"read\" }\nkey_prefix \"d/\" { policy = \"deny\" }"},
			checks: []check{
				{r: ResourceKey, name: "l/", a: AccessList, want: true},
				{r: ResourceKey, name: "l/x", a: AccessRead, want: true},
				{r: ResourceKey, name: "l/x", a: AccessWrite, want: false},
				{r: ResourceKey, name: "r/", a: AccessList, want: false},
				{r: ResourceKey, name: "r/x", a: AccessRead, want: true},
				{r: ResourceKey, name: "d/", a: AccessList, want: false},
				{r: ResourceKey, name: "d/x", a: AccessRead, want: false},
			},
		},
		{
			name:         "unsegmented resources",
			defaultAllow: false,
			policies:     []string{"acl = \"read\"\nkeyring = \"write\"\noperator = \"read\""},
			checks: []check{
				{r: ResourceACL, a: AccessRead, want: true},
				{r: ResourceACL, a: AccessWrite, want: false},
				{r: ResourceKeyring, a: AccessWrite, want: true},
				{r: ResourceOperator, a: AccessRead, want: true},
				{r: ResourceOperator, name: "ignored", a: AccessRead, want: true},
				{r: ResourceOperator, a: AccessWrite, want: false},
				// mesh and peering follow operator without their own rule.
				{r: ResourceMesh, a: AccessRead, want: true},
				{r: ResourcePeering, a: AccessWrite, want: false},
			},
		},
		{
			name:     "mesh rule beats operator",
			policies: []string{"operator = \"write\"\nmesh = \"deny\""},
			checks: []check{
				{r: ResourceMesh, a: AccessRead, want: false},
				{r: ResourcePeering, a: AccessWrite, want: true},
			},
		},
		{
			name:         "default allow where no rule matches",
			defaultAllow: true,
			policies:     []string{`key_prefix "app/" { policy = "deny" }`},
			checks: []check{
				{r: ResourceKey, name: "app/x", a: AccessRead, want: false},
				{r: ResourceKey, name: "other", a: AccessWrite, want: true},
				{r: ResourceService, name: "web", a: AccessWrite, want: true},
				{r: ResourceOperator, a: AccessWrite, want: true},
				{r: ResourceKeyring, a: AccessWrite, want: true},
				{r: ResourceACL, a: AccessRead, want: false}, // never by default
				{r: Resource("bogus"), a: AccessRead, want: false},
			},
		},
		{
			name:     "default deny where no rule matches",
			policies: []string{`key_prefix "app/" { policy = "write" }`},
			checks: []check{
				{r: ResourceKey, name: "app/x", a: AccessWrite, want: true},
				{r: ResourceKey, name: "ap", a: AccessRead, want: false},
				{r: ResourceNode, name: "n", a: AccessRead, want: false},
				{r: ResourceOperator, a: AccessRead, want: false},
			},
		},
		{
			name:         "acl write by rule under default allow",
			defaultAllow: true,
			policies:     []string{`acl = "write"`},
			checks:       []check{{r: ResourceACL, a: AccessWrite, want: true}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ps []*Policy
			for _, s := range tc.policies {
				ps = append(ps, mustParse(t, s))
			}
			runChecks(t, NewAuthorizer(tc.defaultAllow, ps...), tc.checks)
		})
	}
}

func TestAuthorizerAllowPrefix(t *testing.T) {
	cases := []struct {
		name         string
		defaultAllow bool
		rules        string
		checks       []check
	}{
		{
			name:  "write on the tree with a deny under it",
			rules: "key_prefix \"app/\" { policy = \"write\" }\nkey \"app/locked\" { policy = \"read\" }\nkey_prefix \"app/sub/\" { policy = \"deny\" }",
			checks: []check{
				{prefix: true, r: ResourceKey, name: "app/", a: AccessWrite, want: false},
				{prefix: true, r: ResourceKey, name: "app/other/", a: AccessWrite, want: true},
				{prefix: true, r: ResourceKey, name: "app/sub/", a: AccessWrite, want: false},
				{prefix: true, r: ResourceKey, name: "app/sub/x", a: AccessRead, want: false},
				{prefix: true, r: ResourceKey, name: "app/loc", a: AccessWrite, want: false},
				{prefix: true, r: ResourceKey, name: "app/loc", a: AccessRead, want: true},
				{prefix: true, r: ResourceKey, name: "ap", a: AccessWrite, want: false},
			},
		},
		{
			name:         "no covering rule falls to the default, allow",
			defaultAllow: true,
			rules:        `key "x/y" { policy = "write" }`,
			checks: []check{
				{prefix: true, r: ResourceKey, name: "x/", a: AccessWrite, want: true},
				{prefix: true, r: ResourceKey, name: "z/", a: AccessWrite, want: true},
			},
		},
		{
			name:  "no covering rule falls to the default, deny",
			rules: `key "x/y" { policy = "write" }`,
			checks: []check{
				{prefix: true, r: ResourceKey, name: "x/", a: AccessWrite, want: false},
				{prefix: true, r: ResourceKey, name: "x/y", a: AccessWrite, want: false},
				{r: ResourceKey, name: "x/y", a: AccessWrite, want: true},
			},
		},
		{
			name:         "a denying rule under the prefix beats default allow",
			defaultAllow: true,
			rules:        `key "x/y" { policy = "deny" }`,
			checks: []check{
				{prefix: true, r: ResourceKey, name: "x/", a: AccessRead, want: false},
				{prefix: true, r: ResourceKey, name: "", a: AccessRead, want: false},
				{prefix: true, r: ResourceKey, name: "z/", a: AccessRead, want: true},
			},
		},
		{
			name:  "service read all (prefix \"\")",
			rules: "service_prefix \"\" { policy = \"read\" }\nservice \"web\" { policy = \"write\" }",
			checks: []check{
				{prefix: true, r: ResourceService, name: "", a: AccessRead, want: true},
				{prefix: true, r: ResourceService, name: "", a: AccessWrite, want: false},
				{prefix: true, r: ResourceService, name: "web", a: AccessWrite, want: false},
			},
		},
		{
			name:  "service read all broken by one deny",
			rules: "service_prefix \"\" { policy = \"read\" }\nservice \"secret\" { policy = \"deny\" }",
			checks: []check{
				{prefix: true, r: ResourceService, name: "", a: AccessRead, want: false},
				{prefix: true, r: ResourceService, name: "s", a: AccessRead, want: false},
				{prefix: true, r: ResourceService, name: "w", a: AccessRead, want: true},
			},
		},
		{
			name:  "node read all needs a covering rule",
			rules: `node "n1" { policy = "read" }`,
			checks: []check{
				{prefix: true, r: ResourceNode, name: "", a: AccessRead, want: false},
			},
		},
		{
			name:  "unsegmented resources ignore the prefix",
			rules: `operator = "read"`,
			checks: []check{
				{prefix: true, r: ResourceOperator, name: "anything", a: AccessRead, want: true},
				{prefix: true, r: ResourceOperator, name: "", a: AccessWrite, want: false},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runChecks(t, NewAuthorizer(tc.defaultAllow, mustParse(t, tc.rules)), tc.checks)
		})
	}
}

func TestIdentityPolicies(t *testing.T) {
	t.Run("service identity", func(t *testing.T) {
		runChecks(t, NewAuthorizer(false, ServiceIdentityPolicy("web")), []check{
			{r: ResourceService, name: "web", a: AccessWrite, want: true},
			{r: ResourceService, name: "web-sidecar-proxy", a: AccessWrite, want: true},
			{r: ResourceService, name: "db", a: AccessRead, want: true},
			{r: ResourceService, name: "db", a: AccessWrite, want: false},
			{r: ResourceService, name: "web2", a: AccessWrite, want: false},
			{r: ResourceNode, name: "n1", a: AccessRead, want: true},
			{r: ResourceNode, name: "n1", a: AccessWrite, want: false},
			{r: ResourceKey, name: "k", a: AccessRead, want: false},
			{prefix: true, r: ResourceService, name: "", a: AccessRead, want: true},
			{prefix: true, r: ResourceNode, name: "", a: AccessRead, want: true},
		})
	})
	t.Run("node identity", func(t *testing.T) {
		runChecks(t, NewAuthorizer(false, NodeIdentityPolicy("n1")), []check{
			{r: ResourceNode, name: "n1", a: AccessWrite, want: true},
			{r: ResourceNode, name: "n2", a: AccessRead, want: false},
			{r: ResourceService, name: "web", a: AccessRead, want: true},
			{r: ResourceService, name: "web", a: AccessWrite, want: false},
			{prefix: true, r: ResourceService, name: "", a: AccessRead, want: true},
		})
	})
	t.Run("identity merged with a policy", func(t *testing.T) {
		deny := mustParse(t, `service "web-sidecar-proxy" { policy = "deny" }`)
		runChecks(t, NewAuthorizer(false, ServiceIdentityPolicy("web"), deny), []check{
			{r: ResourceService, name: "web", a: AccessWrite, want: true},
			{r: ResourceService, name: "web-sidecar-proxy", a: AccessRead, want: false},
		})
	})
}

func TestBuiltinAuthorizers(t *testing.T) {
	all := []Resource{ResourceAgent, ResourceEvent, ResourceKey, ResourceKeyring, ResourceNode,
		ResourceOperator, ResourceQuery, ResourceService, ResourceSession, ResourceMesh, ResourcePeering}
	gm := NewAuthorizer(false, mustParse(t, GlobalManagementRules))
	for _, tc := range []struct {
		name       string
		authz      Authorizer
		others, ac bool
	}{
		{"ManageAll", ManageAll(), true, true},
		{"global-management policy", gm, true, true},
		{"AllowAll", AllowAll(), true, false},
		{"DenyAll", DenyAll(), false, false},
		{"NewAuthorizer(true)", NewAuthorizer(true), true, false},
		{"NewAuthorizer(false)", NewAuthorizer(false), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var checks []check
			for _, r := range all {
				for _, a := range []Access{AccessRead, AccessWrite} {
					checks = append(checks,
						check{r: r, name: "x", a: a, want: tc.others},
						check{prefix: true, r: r, name: "", a: a, want: tc.others})
				}
			}
			checks = append(checks,
				check{r: ResourceKey, name: "x", a: AccessList, want: tc.others},
				check{r: ResourceACL, a: AccessRead, want: tc.ac},
				check{r: ResourceACL, a: AccessWrite, want: tc.ac})
			runChecks(t, tc.authz, checks)
		})
	}
}

func BenchmarkAllowServiceFilter(b *testing.B) {
	p, err := ParsePolicy("service_prefix \"\" { policy = \"read\" }\nservice_prefix \"int-\" { policy = \"deny\" }\nservice \"web\" { policy = \"write\" }")
	if err != nil {
		b.Fatal(err)
	}
	authz := NewAuthorizer(false, p, ServiceIdentityPolicy("api"), NodeIdentityPolicy("n1"))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		authz.Allow(ResourceService, "payments-v2", AccessRead)
	}
}
