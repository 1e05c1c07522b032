package httpapi

import (
	"net/http"
	"net/http/pprof"
	"strings"

	"consulate/acl"
)

// pprof serves Go's runtime profiles (/debug/pprof/, /debug/pprof/heap,
// /debug/pprof/profile?seconds=N, ...) to a token with operator:read, as
// Consul does when enable_debug is set or ACLs are on. The route exists
// only then (routes), so otherwise the path is a 404.
func (s *Server) pprof(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := s.authorizeFor(r, acl.ResourceOperator, "", acl.AccessRead); err != nil {
		return nil, err
	}
	switch strings.TrimPrefix(r.URL.Path, "/debug/pprof/") {
	case "cmdline":
		pprof.Cmdline(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	default:
		// The index, and every named profile (heap, goroutine, allocs,
		// block, mutex, threadcreate) by its name.
		pprof.Index(w, r)
	}
	return nil, nil
}
