package httpapi

import (
	"net/http"

	"consulate/structs"
)

// uiServices serves /v1/internal/ui/services, the UI's services list: one
// summary per service name with its tags, nodes, instance count and
// check counts (each instance's checks plus its node's checks), asked of
// a server (Internal.ServiceSummary) with the usual read options.
func (s *Server) uiServices(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.DCSpecificRequest
	if _, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions); err != nil {
		return nil, err
	}
	var out structs.IndexedServiceSummaries
	if err := s.rpcRead(w, r, structs.MethodInternalServiceSummary, &args.QueryOptions, &args, &out, &out.QueryMeta); err != nil {
		return nil, err
	}
	if out.Services == nil {
		out.Services = []*structs.ServiceSummary{}
	}
	for _, sum := range out.Services {
		if sum.Tags == nil {
			sum.Tags = []string{}
		}
		if sum.Nodes == nil {
			sum.Nodes = []string{}
		}
		if sum.ExternalSources == nil {
			sum.ExternalSources = []string{}
		}
	}
	return out.Services, nil
}
