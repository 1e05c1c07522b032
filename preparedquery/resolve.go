package preparedquery

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"consulate/structs"
)

// ErrNotFound is returned when no query has the given ID or name.
//
//lint:ignore ST1005 the text is Consul's (ErrQueryNotFound), which clients see in the HTTP answer.
var ErrNotFound = errors.New("Query not found")

// Validate checks a definition before it is stored.
func Validate(q *structs.PreparedQuery) error {
	if q == nil {
		return &structs.BadRequestError{Reason: "missing query definition"}
	}
	switch q.Template.Type {
	case "":
		if q.Service.Service == "" {
			return &structs.BadRequestError{Reason: "Must provide a Service name to query"}
		}
	case structs.QueryTemplateTypeNamePrefixMatch:
		if q.Template.Regexp != "" {
			if _, err := regexp.Compile(q.Template.Regexp); err != nil {
				return &structs.BadRequestError{Reason: fmt.Sprintf("Bad Regexp: %v", err)}
			}
		}
	default:
		return &structs.BadRequestError{Reason: fmt.Sprintf("Bad Template.Type %q", q.Template.Type)}
	}
	if q.Service.Failover.NearestN < 0 {
		return &structs.BadRequestError{Reason: "Bad NearestN, must be >= 0"}
	}
	for _, dc := range q.Service.Failover.Datacenters {
		if dc == "" {
			return &structs.BadRequestError{Reason: "Empty datacenter in Failover.Datacenters"}
		}
	}
	if q.DNS.TTL != "" {
		if _, err := parseTTL(q.DNS.TTL); err != nil {
			return &structs.BadRequestError{Reason: fmt.Sprintf("Bad DNS TTL %q: %v", q.DNS.TTL, err)}
		}
	}
	return nil
}

// Resolve finds the query a name or ID stands for: an exact ID, then an
// exact name, then the template with the longest matching name prefix. A
// template is rendered for the name it matched.
func Resolve(all structs.PreparedQueries, idOrName string) (*structs.PreparedQuery, error) {
	for _, q := range all {
		if q.ID == idOrName {
			return q, nil
		}
	}
	for _, q := range all {
		if q.Name != "" && q.Name == idOrName && q.Template.Type == "" {
			return q, nil
		}
	}
	var best *structs.PreparedQuery
	for _, q := range all {
		if q.Template.Type != structs.QueryTemplateTypeNamePrefixMatch || !strings.HasPrefix(idOrName, q.Name) {
			continue
		}
		if best == nil || len(q.Name) > len(best.Name) {
			best = q
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, idOrName)
	}
	return render(best, idOrName)
}

// render fills a template's ${name.full}, ${name.prefix}, ${name.suffix}
// and ${match(N)} placeholders for the name it matched.
func render(tmpl *structs.PreparedQuery, name string) (*structs.PreparedQuery, error) {
	var matches []string
	if tmpl.Template.Regexp != "" {
		re, err := regexp.Compile(tmpl.Template.Regexp)
		if err != nil {
			return nil, err
		}
		matches = re.FindStringSubmatch(name)
	}
	repl := func(s string) string {
		if !strings.Contains(s, "${") {
			return s
		}
		s = strings.ReplaceAll(s, "${name.full}", name)
		s = strings.ReplaceAll(s, "${name.prefix}", tmpl.Name)
		s = strings.ReplaceAll(s, "${name.suffix}", strings.TrimPrefix(name, tmpl.Name))
		for i := 0; i < 10; i++ {
			m := ""
			if i < len(matches) {
				m = matches[i]
			}
			s = strings.ReplaceAll(s, fmt.Sprintf("${match(%d)}", i), m)
		}
		return s
	}
	q := *tmpl
	q.Service.Service = repl(q.Service.Service)
	q.Service.Near = repl(q.Service.Near)
	var tags []string
	for _, t := range tmpl.Service.Tags {
		t = repl(t)
		if t == "" && tmpl.Template.RemoveEmptyTags {
			continue
		}
		tags = append(tags, t)
	}
	q.Service.Tags = tags
	if q.Service.Service == "" {
		return nil, &structs.BadRequestError{Reason: fmt.Sprintf("template %q renders an empty service name for %q", tmpl.Name, name)}
	}
	return &q, nil
}
