package local

import (
	"maps"
	"reflect"
	"slices"

	"consulate/structs"
)

func cloneService(s *structs.NodeService) *structs.NodeService {
	c := *s
	c.Tags = slices.Clone(s.Tags)
	c.TaggedAddresses = maps.Clone(s.TaggedAddresses)
	c.Meta = maps.Clone(s.Meta)
	if s.Weights != nil {
		w := *s.Weights
		c.Weights = &w
	}
	return &c
}

func cloneCheck(h *structs.HealthCheck) *structs.HealthCheck {
	c := *h
	c.ServiceTags = slices.Clone(h.ServiceTags)
	if h.Definition.Header != nil {
		c.Definition.Header = make(map[string][]string, len(h.Definition.Header))
		for k, v := range h.Definition.Header {
			c.Definition.Header[k] = slices.Clone(v)
		}
	}
	return &c
}

// strsEqual treats nil and empty as the same, as the wire does.
func strsEqual(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || slices.Equal(a, b))
}

func strMapEqual(a, b map[string]string) bool {
	return len(a) == len(b) && (len(a) == 0 || maps.Equal(a, b))
}

func weightsOf(w *structs.Weights) structs.Weights {
	if w == nil {
		return structs.Weights{Passing: 1, Warning: 1}
	}
	return *w
}

// serviceEqual compares what the catalog stores of a service (not the
// indexes or datacenter).
func serviceEqual(a, b *structs.NodeService) bool {
	return a.Kind == b.Kind && a.ID == b.ID && a.Service == b.Service &&
		strsEqual(a.Tags, b.Tags) && a.Address == b.Address &&
		len(a.TaggedAddresses) == len(b.TaggedAddresses) &&
		(len(a.TaggedAddresses) == 0 || maps.Equal(a.TaggedAddresses, b.TaggedAddresses)) &&
		strMapEqual(a.Meta, b.Meta) && a.Port == b.Port &&
		weightsOf(a.Weights) == weightsOf(b.Weights) &&
		a.EnableTagOverride == b.EnableTagOverride
}

func headersEqual(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !strsEqual(v, w) {
			return false
		}
	}
	return true
}

// checkEqual compares what the catalog stores of a check.
func checkEqual(a, b *structs.HealthCheck) bool {
	da, db := a.Definition, b.Definition
	return a.Node == b.Node && a.CheckID == b.CheckID && a.Name == b.Name &&
		a.Status == b.Status && a.Notes == b.Notes && a.Output == b.Output &&
		a.ServiceID == b.ServiceID && a.ServiceName == b.ServiceName &&
		strsEqual(a.ServiceTags, b.ServiceTags) && a.Type == b.Type &&
		da.HTTP == db.HTTP && headersEqual(da.Header, db.Header) && da.Method == db.Method &&
		da.Body == db.Body && da.TLSSkipVerify == db.TLSSkipVerify && da.TCP == db.TCP &&
		da.Interval == db.Interval && da.Timeout == db.Timeout &&
		da.DeregisterCriticalServiceAfter == db.DeregisterCriticalServiceAfter
}

// checkTypeEqual says whether two definitions would run the same check.
func checkTypeEqual(a, b *structs.CheckType) bool {
	x, y := *a, *b
	if !headersEqual(x.Header, y.Header) || !strsEqual(x.Args, y.Args) {
		return false
	}
	x.Header, y.Header, x.Args, y.Args = nil, nil, nil, nil
	return reflect.DeepEqual(x, y)
}
