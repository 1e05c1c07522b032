package acl

import (
	"errors"
	"strings"
	"testing"
)

func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{
		"",
		GlobalManagementRules,
		`key_prefix "app/" { policy = "write" }`,
		`{"key_prefix": {"app/": {"policy": "write"}}}`,
		`{"service": [{"web": {"policy": "read", "intentions": "write"}}]}`,
		"acl = \"write\"\nkeyring = \"read\"\noperator = \"write\"",
		`key_prefix = { "a/" = { policy = "list" } }`,
		"service \"web\" { policy = <<EOF\nwrite\nEOF\n}",
		"key \"a\" {\n policy = \"read\"\n",
		`{"key": {"a": {"policy": 1}}}`,
		`{"a": [[[[[[]]]]]]}`,
		"node \"\\u00e9\" { policy = \"read\" }",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rules string) {
		p, err := ParsePolicy(rules)
		if err != nil {
			if !errors.Is(err, ErrInvalidRules) {
				t.Fatalf("error %v does not wrap ErrInvalidRules", err)
			}
			var pe *ParseError
			lines := strings.Count(rules, "\n") + 1
			if errors.As(err, &pe) && len(rules) <= MaxRulesSize && (pe.Line < 1 || pe.Line > lines) {
				t.Fatalf("error on line %d of a %d-line input: %v", pe.Line, lines, err)
			}
			return
		}
		for _, r := range p.Rules {
			if !r.Resource.Valid() || r.Policy == 0 || (r.Policy == PolicyList && r.Resource != ResourceKey) {
				t.Fatalf("bad rule accepted: %+v", r)
			}
		}
		authz := NewAuthorizer(false, p)
		authz.Allow(ResourceKey, "a", AccessRead)
		authz.AllowPrefix(ResourceService, "", AccessRead)
	})
}
