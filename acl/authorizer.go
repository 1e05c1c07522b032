package acl

import (
	"sort"
	"strings"
)

// Authorizer decides what the holder of a token may do. Implementations
// are immutable and safe for concurrent use; no method blocks.
type Authorizer interface {
	// Allow reports whether the holder may do a to the object name of
	// resource r (name is ignored for acl, keyring, operator, mesh and
	// peering).
	Allow(r Resource, name string, a Access) bool
	// AllowPrefix reports whether the holder may do a to every object of r
	// whose name starts with prefix: a is allowed on prefix itself and no
	// rule on a longer prefix or an exact name under it grants less
	// (Consul's KeyWritePrefix; ServiceReadAll and NodeReadAll with "").
	AllowPrefix(r Resource, prefix string, a Access) bool
}

var _ Authorizer = (*policyAuthorizer)(nil)

// ruleSet holds one resource's rules after merging.
type ruleSet struct {
	exact map[string]Disposition
	// prefixes is sorted longest first, so the first match is the most
	// specific one.
	prefixes []prefixRule
}

type prefixRule struct {
	prefix string
	policy Disposition
}

// policyAuthorizer decides from merged rules, falling back to the default
// policy where no rule matches: Consul's chain of a policy authorizer and
// a static one, folded into one value.
type policyAuthorizer struct {
	rules        map[Resource]*ruleSet
	defaultAllow bool
	// manage grants ACL rights by default (ManageAll); no other default
	// does.
	manage bool
}

// NewAuthorizer combines policies (nil ones skipped) under the default
// policy. For an object the exact rule wins over prefix rules and the
// longest matching prefix wins over shorter ones; rules on the same exact
// name or the same prefix, from one policy or several, merge as deny >
// write > list > read. Without a mesh or peering rule the operator rule
// decides them. Where nothing matches, defaultAllow decides, except for
// acl, which only a rule (or ManageAll) grants.
func NewAuthorizer(defaultAllow bool, policies ...*Policy) Authorizer {
	a := &policyAuthorizer{defaultAllow: defaultAllow, rules: map[Resource]*ruleSet{}}
	prefixes := map[Resource]map[string]Disposition{}
	for _, p := range policies {
		if p == nil {
			continue
		}
		for _, r := range p.Rules {
			if r.Policy == 0 || !r.Resource.Valid() {
				continue
			}
			name, isPrefix := r.Name, r.Prefix
			if !r.Resource.Segmented() {
				name, isPrefix = "", false
			}
			if isPrefix {
				m := prefixes[r.Resource]
				if m == nil {
					m = map[string]Disposition{}
					prefixes[r.Resource] = m
				}
				m[name] = stronger(m[name], r.Policy)
				continue
			}
			rs := a.set(r.Resource)
			rs.exact[name] = stronger(rs.exact[name], r.Policy)
		}
	}
	for res, m := range prefixes {
		rs := a.set(res)
		for p, d := range m {
			rs.prefixes = append(rs.prefixes, prefixRule{prefix: p, policy: d})
		}
		sort.Slice(rs.prefixes, func(i, j int) bool {
			if len(rs.prefixes[i].prefix) != len(rs.prefixes[j].prefix) {
				return len(rs.prefixes[i].prefix) > len(rs.prefixes[j].prefix)
			}
			return rs.prefixes[i].prefix < rs.prefixes[j].prefix
		})
	}
	return a
}

// set returns r's rule set, creating it.
func (p *policyAuthorizer) set(r Resource) *ruleSet {
	rs := p.rules[r]
	if rs == nil {
		rs = &ruleSet{exact: map[string]Disposition{}}
		p.rules[r] = rs
	}
	return rs
}

// stronger merges two dispositions for the same exact name or prefix.
func stronger(a, b Disposition) Disposition {
	if b.precedence() > a.precedence() {
		return b
	}
	return a
}

// fallback is the default policy's answer for r.
func (p *policyAuthorizer) fallback(r Resource) bool {
	if !r.Valid() {
		return false
	}
	if r == ResourceACL {
		return p.manage
	}
	return p.defaultAllow
}

// lookup finds the rule deciding name: exact first, then the longest
// prefix.
func (rs *ruleSet) lookup(name string) (Disposition, bool) {
	if d, ok := rs.exact[name]; ok {
		return d, true
	}
	for _, pr := range rs.prefixes {
		if strings.HasPrefix(name, pr.prefix) {
			return pr.policy, true
		}
	}
	return 0, false
}

// Allow implements Authorizer.
func (p *policyAuthorizer) Allow(r Resource, name string, a Access) bool {
	if !r.Segmented() {
		name = ""
	}
	if rs := p.rules[r]; rs != nil {
		if d, ok := rs.lookup(name); ok {
			return d.Grants(a)
		}
	}
	if r == ResourceMesh || r == ResourcePeering {
		// As Consul: without a mesh or peering rule, the operator rule
		// decides.
		return p.Allow(ResourceOperator, "", a)
	}
	return p.fallback(r)
}

// AllowPrefix implements Authorizer.
func (p *policyAuthorizer) AllowPrefix(r Resource, prefix string, a Access) bool {
	if !r.Segmented() {
		return p.Allow(r, "", a)
	}
	rs := p.rules[r]
	if rs == nil {
		return p.fallback(r)
	}
	for name, d := range rs.exact {
		if strings.HasPrefix(name, prefix) && !d.Grants(a) {
			return false
		}
	}
	for _, pr := range rs.prefixes {
		if strings.HasPrefix(pr.prefix, prefix) && !pr.policy.Grants(a) {
			return false
		}
	}
	// The rule covering prefix itself: the longest prefix rule it starts
	// with (an exact rule on prefix was checked above as "under" it).
	for _, pr := range rs.prefixes {
		if strings.HasPrefix(prefix, pr.prefix) {
			return pr.policy.Grants(a)
		}
	}
	return p.fallback(r)
}
