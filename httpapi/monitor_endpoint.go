package httpapi

import (
	"net/http"

	"consulate/acl"
	"consulate/structs"
)

// agentMonitor streams log lines (/v1/agent/monitor?loglevel=) until the
// client goes away.
func (s *Server) agentMonitor(w http.ResponseWriter, r *http.Request) (any, error) {
	if s.cfg.Monitor == nil {
		return nil, notFound("log streaming is not available")
	}
	if err := s.authorizeFor(r, acl.ResourceAgent, s.nodeName(), acl.AccessRead); err != nil {
		return nil, err
	}
	level := query(r).Get("loglevel")
	if level == "" {
		level = "info"
	}
	lines, err := s.cfg.Monitor(r.Context(), level)
	if err != nil {
		return nil, &structs.BadRequestError{Reason: err.Error()}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	for line := range lines {
		if _, err := w.Write(line); err != nil {
			return nil, nil
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
	return nil, nil
}
