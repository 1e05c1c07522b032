package acl

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParsePolicyResources(t *testing.T) {
	cases := []struct {
		name  string
		rules string
		want  []Rule
	}{
		{"empty", "", nil},
		{"comment only", "# nothing\n", nil},
		{"acl", `acl = "write"`, []Rule{{Resource: ResourceACL, Policy: PolicyWrite, Line: 1}}},
		{"keyring", `keyring = "read"`, []Rule{{Resource: ResourceKeyring, Policy: PolicyRead, Line: 1}}},
		{"operator", `operator = "write"`, []Rule{{Resource: ResourceOperator, Policy: PolicyWrite, Line: 1}}},
		{"mesh", `mesh = "read"`, []Rule{{Resource: ResourceMesh, Policy: PolicyRead, Line: 1}}},
		{"peering", `peering = "deny"`, []Rule{{Resource: ResourcePeering, Policy: PolicyDeny, Line: 1}}},
		{"agent", `agent "n1" { policy = "read" }`, []Rule{{Resource: ResourceAgent, Name: "n1", Policy: PolicyRead, Line: 1}}},
		{"agent_prefix", `agent_prefix "" { policy = "write" }`, []Rule{{Resource: ResourceAgent, Prefix: true, Policy: PolicyWrite, Line: 1}}},
		{"event", `event "deploy" { policy = "write" }`, []Rule{{Resource: ResourceEvent, Name: "deploy", Policy: PolicyWrite, Line: 1}}},
		{"event_prefix", `event_prefix "d" { policy = "deny" }`, []Rule{{Resource: ResourceEvent, Name: "d", Prefix: true, Policy: PolicyDeny, Line: 1}}},
		{"key", `key "a/b" { policy = "list" }`, []Rule{{Resource: ResourceKey, Name: "a/b", Policy: PolicyList, Line: 1}}},
		{"key_prefix", `key_prefix "app/" { policy = "write" }`, []Rule{{Resource: ResourceKey, Name: "app/", Prefix: true, Policy: PolicyWrite, Line: 1}}},
		{"node", `node "n1" { policy = "write" }`, []Rule{{Resource: ResourceNode, Name: "n1", Policy: PolicyWrite, Line: 1}}},
		{"node_prefix", `node_prefix "" { policy = "read" }`, []Rule{{Resource: ResourceNode, Prefix: true, Policy: PolicyRead, Line: 1}}},
		{"query", `query "q" { policy = "write" }`, []Rule{{Resource: ResourceQuery, Name: "q", Policy: PolicyWrite, Line: 1}}},
		{"query_prefix", `query_prefix "" { policy = "read" }`, []Rule{{Resource: ResourceQuery, Prefix: true, Policy: PolicyRead, Line: 1}}},
		{"service with intentions", "service \"web\" {\n  policy = \"write\"\n  intentions = \"read\"\n}", []Rule{{Resource: ResourceService, Name: "web", Policy: PolicyWrite, Intentions: PolicyRead, Line: 1}}},
		{"service_prefix", `service_prefix "" { policy = "read" }`, []Rule{{Resource: ResourceService, Prefix: true, Policy: PolicyRead, Line: 1}}},
		{"session", `session "n1" { policy = "write" }`, []Rule{{Resource: ResourceSession, Name: "n1", Policy: PolicyWrite, Line: 1}}},
		{"session_prefix", `session_prefix "" { policy = "read" }`, []Rule{{Resource: ResourceSession, Prefix: true, Policy: PolicyRead, Line: 1}}},
		{"several on lines", "# c\nkey_prefix \"\" {\n  policy = \"read\"\n}\noperator = \"read\"\n", []Rule{
			{Resource: ResourceKey, Prefix: true, Policy: PolicyRead, Line: 2},
			{Resource: ResourceOperator, Policy: PolicyRead, Line: 5},
		}},
		{"hcl object form", `key_prefix = { "a/" = { policy = "read" } }`, []Rule{{Resource: ResourceKey, Name: "a/", Prefix: true, Policy: PolicyRead, Line: 1}}},
		// JSON forms.
		{"json acl", `{"acl": "write"}`, []Rule{{Resource: ResourceACL, Policy: PolicyWrite, Line: 1}}},
		{"json keyring", `{"keyring": "read"}`, []Rule{{Resource: ResourceKeyring, Policy: PolicyRead, Line: 1}}},
		{"json operator", `{"operator": "write"}`, []Rule{{Resource: ResourceOperator, Policy: PolicyWrite, Line: 1}}},
		{"json key_prefix", `{"key_prefix": {"app/": {"policy": "write"}}}`, []Rule{{Resource: ResourceKey, Name: "app/", Prefix: true, Policy: PolicyWrite, Line: 1}}},
		{"json key", `{"key": {"a": {"policy": "list"}}}`, []Rule{{Resource: ResourceKey, Name: "a", Policy: PolicyList, Line: 1}}},
		{"json agent", `{"agent": {"n1": {"policy": "read"}}}`, []Rule{{Resource: ResourceAgent, Name: "n1", Policy: PolicyRead, Line: 1}}},
		{"json agent_prefix", `{"agent_prefix": {"": {"policy": "read"}}}`, []Rule{{Resource: ResourceAgent, Prefix: true, Policy: PolicyRead, Line: 1}}},
		{"json event_prefix", `{"event_prefix": {"": {"policy": "write"}}}`, []Rule{{Resource: ResourceEvent, Prefix: true, Policy: PolicyWrite, Line: 1}}},
		{"json node", `{"node": {"n1": {"policy": "write"}}}`, []Rule{{Resource: ResourceNode, Name: "n1", Policy: PolicyWrite, Line: 1}}},
		{"json query", `{"query": {"q": {"policy": "deny"}}}`, []Rule{{Resource: ResourceQuery, Name: "q", Policy: PolicyDeny, Line: 1}}},
		{"json service_prefix intentions", `{"service_prefix": {"": {"policy": "read", "intentions": "deny"}}}`, []Rule{{Resource: ResourceService, Prefix: true, Policy: PolicyRead, Intentions: PolicyDeny, Line: 1}}},
		{"json session", `{"session": {"n1": {"policy": "write"}}}`, []Rule{{Resource: ResourceSession, Name: "n1", Policy: PolicyWrite, Line: 1}}},
		{"json mesh peering", `{"mesh": "write", "peering": "read"}`, []Rule{
			{Resource: ResourceMesh, Policy: PolicyWrite, Line: 1},
			{Resource: ResourcePeering, Policy: PolicyRead, Line: 1},
		}},
		{"json multi line", "{\n  \"key_prefix\": {\n    \"\": {\"policy\": \"read\"},\n    \"foo/\": {\"policy\": \"write\"}\n  },\n  \"operator\": \"read\"\n}", []Rule{
			{Resource: ResourceKey, Prefix: true, Policy: PolicyRead, Line: 3},
			{Resource: ResourceKey, Name: "foo/", Prefix: true, Policy: PolicyWrite, Line: 4},
			{Resource: ResourceOperator, Policy: PolicyRead, Line: 6},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParsePolicy(tc.rules)
			if err != nil {
				t.Fatalf("ParsePolicy: %v", err)
			}
			if !reflect.DeepEqual(p.Rules, tc.want) {
				t.Fatalf("rules\n got %+v\nwant %+v", p.Rules, tc.want)
			}
		})
	}
}

func TestParsePolicyGlobalManagement(t *testing.T) {
	p, err := ParsePolicy(GlobalManagementRules)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[Resource]bool{}
	for _, r := range p.Rules {
		if r.Policy != PolicyWrite {
			t.Errorf("%s %q: %s, want write", r.Resource, r.Name, r.Policy)
		}
		seen[r.Resource] = true
	}
	for _, r := range []Resource{ResourceACL, ResourceAgent, ResourceEvent, ResourceKey, ResourceKeyring,
		ResourceNode, ResourceOperator, ResourceQuery, ResourceService, ResourceSession, ResourceMesh, ResourcePeering} {
		if !seen[r] {
			t.Errorf("global-management has no %s rule", r)
		}
	}
}

func TestParsePolicyErrors(t *testing.T) {
	cases := []struct {
		name  string
		rules string
		line  int
		msg   string // a fragment of the message
	}{
		{"unknown resource", "key \"a\" { policy = \"read\" }\n\nfoo \"x\" { policy = \"read\" }", 3, `unknown resource "foo"`},
		{"unknown prefix resource", "\noperator_prefix \"\" { policy = \"read\" }", 2, `unknown resource "operator_prefix"`},
		{"unknown policy", "key_prefix \"\" {\n  policy = \"read\"\n}\nservice \"web\" {\n  policy = \"admin\"\n}", 5, `invalid policy "admin"`},
		{"unknown policy unsegmented", "\n\noperator = \"manage\"", 3, `invalid policy "manage"`},
		{"list on service", "service_prefix \"\" {\n  policy = \"list\"\n}", 2, `"list" is only valid for key`},
		{"list on operator", "operator = \"list\"", 1, `"list" is only valid for key`},
		{"list on intentions", "service \"a\" {\n policy = \"read\"\n intentions = \"list\"\n}", 3, `"list" is only valid for key`},
		{"malformed hcl", "key_prefix \"a\" {\n  policy = \"read\"\n\nnode \"x\" { policy = \n", 5, "malformed rules"},
		{"malformed hcl unclosed string", "key \"a\" { policy = \"read\" }\n key \"b { policy = \"read\" }", 2, "malformed rules"},
		{"malformed json", "{\n  \"key\": {\n    \"a\": {\"policy\": \"read\",}\n  }\n}", 3, "malformed rules"},
		{"missing policy", "\nkey \"a\" {\n}", 2, "missing policy"},
		{"unknown field", "key \"a\" {\n  polcy = \"read\"\n}", 2, `unknown field "polcy"`},
		{"intentions on key", "key \"a\" {\n  policy = \"read\"\n  intentions = \"read\"\n}", 3, `unknown field "intentions"`},
		{"policy twice", "key \"a\" {\n  policy = \"read\"\n  policy = \"write\"\n}", 3, "policy set twice"},
		{"policy not a string", "key \"a\" {\n  policy = 3\n}", 2, "expected a string"},
		{"segmented without name", "\nkey = \"read\"", 2, "needs a name"},
		{"unsegmented with name", "operator \"x\" { policy = \"read\" }", 1, "takes a value"},
		{"json unknown resource", "{\n \"keys\": {\"a\": {\"policy\": \"read\"}}\n}", 2, `unknown resource "keys"`},
		{"json bad policy", "{\n \"key_prefix\": {\n  \"a\": {\n   \"policy\": \"rw\"\n  }\n }\n}", 4, `invalid policy "rw"`},
		{"json list on node", "{\"node_prefix\": {\"\": {\"policy\": \"list\"}}}", 1, `"list" is only valid`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePolicy(tc.rules)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalidRules) {
				t.Errorf("error %v does not wrap ErrInvalidRules", err)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError", err)
			}
			if pe.Line != tc.line {
				t.Errorf("line %d, want %d (%v)", pe.Line, tc.line, err)
			}
			if !strings.HasPrefix(err.Error(), "line ") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q, want it to name the line and contain %q", err, tc.msg)
			}
		})
	}
}

func TestParsePolicyTooLarge(t *testing.T) {
	big := strings.Repeat("# padding padding padding\n", MaxRulesSize/20)
	_, err := ParsePolicy(big)
	if !errors.Is(err, ErrInvalidRules) || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("error %v, want the size limit", err)
	}
	ok := strings.Repeat(" ", MaxRulesSize-len(`acl = "read"`)) + `acl = "read"`
	if _, err := ParsePolicy(ok); err != nil {
		t.Fatalf("rules of exactly the limit: %v", err)
	}
}

func TestMergePolicies(t *testing.T) {
	a := &Policy{Rules: []Rule{{Resource: ResourceKey, Name: "a", Policy: PolicyRead}}}
	b := &Policy{Rules: []Rule{{Resource: ResourceKey, Name: "a", Policy: PolicyDeny}}}
	m := MergePolicies(a, nil, b)
	if len(m.Rules) != 2 {
		t.Fatalf("merged %d rules, want 2", len(m.Rules))
	}
	if NewAuthorizer(true, m).Allow(ResourceKey, "a", AccessRead) {
		t.Fatal("deny from the second policy lost in the merge")
	}
}

func TestTypeStrings(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{ResourceKey.String(), "key"},
		{AccessRead.String(), "read"},
		{AccessList.String(), "list"},
		{AccessWrite.String(), "write"},
		{PolicyDeny.String(), "deny"},
		{PolicyList.String(), "list"},
		{Access(9).String(), "Access(9)"},
		{Disposition(0).String(), "Disposition(0)"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if !ResourceService.Segmented() || ResourceOperator.Segmented() || Resource("foo").Valid() {
		t.Error("Segmented/Valid wrong")
	}
}
