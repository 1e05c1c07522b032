package acl

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// MaxRulesSize bounds the rules ParsePolicy accepts, so a policy write
// cannot make the parser (and every server replaying it) chew on megabytes.
const MaxRulesSize = 64 << 10

// ErrInvalidRules is wrapped by every error ParsePolicy returns; callers
// answer it with HTTP 400.
var ErrInvalidRules = errors.New("acl: invalid rules")

// ParseError says what is wrong with rules and on which line (0 when the
// fault is not on one line, as with size).
type ParseError struct {
	Line int
	Msg  string
}

// Error returns "line N: msg", the form Consul users grep their rules by.
func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// Unwrap makes errors.Is(err, ErrInvalidRules) true.
func (e *ParseError) Unwrap() error { return ErrInvalidRules }

// Rule is one parsed rule: `key_prefix "app/" { policy = "write" }` is
// {Resource: ResourceKey, Name: "app/", Prefix: true, Policy: PolicyWrite}.
// Unsegmented resources (acl, keyring, operator, mesh, peering) have Name
// "" and Prefix false.
type Rule struct {
	Resource Resource
	Name     string
	Prefix   bool
	Policy   Disposition
	// Intentions is a service rule's intentions value: validated and kept
	// (Consul accepts it), decided on by nothing in Consulate.
	Intentions Disposition
	// Line is where the rule starts in its source, 0 for synthesized ones.
	Line int
}

// Policy is a parsed set of rules. Several policies are combined by
// NewAuthorizer (or MergePolicies), never by editing Rules in place.
type Policy struct {
	Rules []Rule
}

// MergePolicies returns one policy holding every rule of ps (nil ones
// skipped); precedence between them is applied when it is authorized.
func MergePolicies(ps ...*Policy) *Policy {
	out := &Policy{}
	for _, p := range ps {
		if p != nil {
			out.Rules = append(out.Rules, p.Rules...)
		}
	}
	return out
}

// ParsePolicy parses rules in HCL or JSON (JSON when the text starts with
// "{"), as Consul 1.16's rule language. Empty rules are an empty policy.
// Every error wraps ErrInvalidRules and, when it is on a line, is a
// *ParseError naming it.
func ParsePolicy(rules string) (*Policy, error) {
	if len(rules) > MaxRulesSize {
		return nil, &ParseError{Msg: fmt.Sprintf("rules are %d bytes, more than the limit of %d", len(rules), MaxRulesSize)}
	}
	var (
		root *node
		err  error
	)
	if strings.HasPrefix(strings.TrimLeftFunc(rules, unicode.IsSpace), "{") {
		// hcl's JSON parser drops positions; our own reader keeps lines.
		root, err = parseJSON(rules)
	} else {
		root, err = parseHCL(rules)
	}
	if err != nil {
		return nil, err
	}
	p := &Policy{}
	for _, f := range root.fields {
		if err := p.addResource(f); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// addResource adds the rules of one top-level field.
func (p *Policy) addResource(f field) error {
	r, prefix, ok := resourceFor(f.key)
	if !ok {
		return &ParseError{Line: f.line, Msg: fmt.Sprintf("unknown resource %q", f.key)}
	}
	if !r.Segmented() {
		if f.val.kind != kindString {
			return &ParseError{Line: f.line, Msg: fmt.Sprintf("%s takes a value, not a block: write %s = \"read\"", f.key, f.key)}
		}
		d, err := disposition(f.val, f.key)
		if err != nil {
			return err
		}
		if d == PolicyList {
			return listError(f.val.line, f.key)
		}
		p.Rules = append(p.Rules, Rule{Resource: r, Policy: d, Line: f.line})
		return nil
	}
	var objs []*node
	switch f.val.kind {
	case kindObject:
		objs = []*node{f.val}
	case kindList:
		for _, n := range f.val.list {
			if n.kind != kindObject {
				return &ParseError{Line: n.line, Msg: fmt.Sprintf("%s: expected an object of names", f.key)}
			}
			objs = append(objs, n)
		}
	default:
		return &ParseError{Line: f.line, Msg: fmt.Sprintf("%s needs a name: write %s \"name\" { policy = \"read\" }", f.key, f.key)}
	}
	for _, o := range objs {
		for _, seg := range o.fields {
			if err := p.addSegment(r, prefix, f.key, seg); err != nil {
				return err
			}
		}
	}
	return nil
}

// addSegment parses the body `{ policy = "..." [intentions = "..."] }` of
// the rule for one name.
func (p *Policy) addSegment(r Resource, prefix bool, word string, seg field) error {
	what := fmt.Sprintf("%s %q", word, seg.key)
	if seg.val.kind != kindObject {
		return &ParseError{Line: seg.line, Msg: fmt.Sprintf("%s: expected a block { policy = \"...\" }", what)}
	}
	rule := Rule{Resource: r, Name: seg.key, Prefix: prefix, Line: seg.line}
	for _, f := range seg.val.fields {
		switch {
		case f.key == "policy":
			if rule.Policy != 0 {
				return &ParseError{Line: f.line, Msg: fmt.Sprintf("%s: policy set twice", what)}
			}
			d, err := disposition(f.val, what+" policy")
			if err != nil {
				return err
			}
			if d == PolicyList && r != ResourceKey {
				return listError(f.val.line, what)
			}
			rule.Policy = d
		case f.key == "intentions" && r == ResourceService:
			if rule.Intentions != 0 {
				return &ParseError{Line: f.line, Msg: fmt.Sprintf("%s: intentions set twice", what)}
			}
			d, err := disposition(f.val, what+" intentions")
			if err != nil {
				return err
			}
			if d == PolicyList {
				return listError(f.val.line, what+" intentions")
			}
			rule.Intentions = d
		default:
			return &ParseError{Line: f.line, Msg: fmt.Sprintf("%s: unknown field %q", what, f.key)}
		}
	}
	if rule.Policy == 0 {
		return &ParseError{Line: seg.line, Msg: fmt.Sprintf("%s: missing policy", what)}
	}
	p.Rules = append(p.Rules, rule)
	return nil
}

// disposition reads a string naming a disposition.
func disposition(n *node, label string) (Disposition, error) {
	if n.kind != kindString {
		return 0, &ParseError{Line: n.line, Msg: fmt.Sprintf("%s: expected a string (\"read\", \"write\" or \"deny\")", label)}
	}
	d, ok := parseDisposition(n.str)
	if !ok {
		return 0, &ParseError{Line: n.line, Msg: fmt.Sprintf("%s: invalid policy %q (want \"read\", \"write\", \"deny\", or \"list\" for keys)", label, n.str)}
	}
	return d, nil
}

// listError is the error for "list" outside key rules.
func listError(line int, what string) error {
	return &ParseError{Line: line, Msg: fmt.Sprintf("%s: policy \"list\" is only valid for key and key_prefix rules", what)}
}

// resourceFor maps a rule word ("key_prefix") to its resource and whether
// it is the prefix form.
func resourceFor(word string) (Resource, bool, bool) {
	base, isPrefix := strings.CutSuffix(word, "_prefix")
	r := Resource(base)
	if !r.Valid() || (isPrefix && !r.Segmented()) {
		return "", false, false
	}
	return r, isPrefix, true
}
