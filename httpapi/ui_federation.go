package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"consulate/acl"
	"consulate/structs"
)

// uiFederation serves /v1/internal/ui/federation, the UI's federation
// page data (operator:read): every datacenter's WAN state, the RTT matrix
// and the WAN member events of the last hour. It blocks with ?index= and
// ?wait= and sets X-Consul-Index. A server answers from its own view
// (Config.UIFederation); a client agent asks one (Internal.UIFederation).
func (s *Server) uiFederation(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.DCSpecificRequest
	if _, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions); err != nil {
		return nil, err
	}
	if args.MinQueryIndex > 0 && args.MaxQueryTime <= 0 {
		args.MaxQueryTime = s.cfg.DefaultQueryTime
	}
	if s.cfg.UIFederation != nil {
		if err := s.authorizeFor(r, acl.ResourceOperator, "", acl.AccessRead); err != nil {
			return nil, err
		}
		view, idx := s.cfg.UIFederation(r.Context(), args.MinQueryIndex, args.MaxQueryTime)
		w.Header().Set("X-Consul-Index", strconv.FormatUint(max(idx, 1), 10))
		return view, nil
	}
	// Any server's view will do: the WAN pool is the same everywhere.
	args.AllowStale = true
	var out structs.UIFederationReply
	if err := s.agent.RPC(r.Context(), structs.MethodInternalUIFederation, &args, &out); err != nil {
		return nil, err
	}
	w.Header().Set("X-Consul-Index", strconv.FormatUint(max(out.Index, 1), 10))
	return json.RawMessage(out.JSON), nil
}
