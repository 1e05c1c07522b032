package httpapi

import (
	"net/http"

	"consulate/acl"
	"consulate/structs"
)

// Agent-local endpoints decide ACLs here, as Consul's agent endpoints do:
// the request's token is resolved through Agent.Authorize and checked
// against the rule Consul lists for the endpoint. Endpoints that forward
// to the servers leave the decision to them (the token travels in
// QueryOptions/WriteRequest).

// filteredHeader is set to "true" when ACLs removed something from a
// listing.
const filteredHeader = "X-Consul-Results-Filtered-By-ACLs"

// reqAuthz is a request's resolved token.
type reqAuthz struct {
	acl.Authorizer
	accessor string
}

// check returns nil when the token may do a to name of res, else the
// refusal in Consul's words (403).
func (z *reqAuthz) check(res acl.Resource, name string, a acl.Access) error {
	return acl.Check(z.Authorizer, z.accessor, res, name, a)
}

// authorize resolves the request's token (X-Consul-Token, Authorization:
// Bearer, ?token=); an unknown one is structs.ErrACLNotFound (403).
func (s *Server) authorize(r *http.Request) (*reqAuthz, error) {
	authz, accessor, err := s.agent.Authorize(r.Context(), token(r))
	if err != nil {
		return nil, err
	}
	return &reqAuthz{Authorizer: authz, accessor: accessor}, nil
}

// authorizeFor resolves the request's token and checks one permission.
func (s *Server) authorizeFor(r *http.Request, res acl.Resource, name string, a acl.Access) error {
	z, err := s.authorize(r)
	if err != nil {
		return err
	}
	return z.check(res, name, a)
}

// nodeName is the agent's node, which agent:* and node:* rules on
// agent-local endpoints name.
func (s *Server) nodeName() string {
	if s.cfg.NodeName != "" {
		return s.cfg.NodeName
	}
	return s.agent.Self().NodeName
}

// setFiltered marks a response whose listing ACLs shortened.
func setFiltered(w http.ResponseWriter, filtered bool) {
	if filtered {
		w.Header().Set(filteredHeader, "true")
	}
}

// checkAccess is the permission touching a local check needs: write (or
// read) on its service when it has one, else on the node (Consul's
// vetCheckRegister/vetCheckUpdate).
func (s *Server) checkAccess(z *reqAuthz, hc *structs.HealthCheck, serviceName string, a acl.Access) error {
	if hc != nil && hc.ServiceID != "" {
		name := serviceName
		if name == "" {
			name = hc.ServiceName
		}
		if name == "" {
			if ns, ok := s.agent.Services()[hc.ServiceID]; ok {
				name = ns.Service
			}
		}
		return z.check(acl.ResourceService, name, a)
	}
	return z.check(acl.ResourceNode, s.nodeName(), a)
}

// vetServiceRegister checks service:write on the service registered and,
// when it replaces a service of another name under the same ID, on that
// one too (Consul's vetServiceRegister).
func (s *Server) vetServiceRegister(r *http.Request, def *structs.ServiceDefinition) error {
	z, err := s.authorize(r)
	if err != nil {
		return err
	}
	if err := z.check(acl.ResourceService, def.Name, acl.AccessWrite); err != nil {
		return err
	}
	id := def.ID
	if id == "" {
		id = def.Name
	}
	if old, ok := s.agent.Services()[id]; ok && old.Service != def.Name {
		return z.check(acl.ResourceService, old.Service, acl.AccessWrite)
	}
	return nil
}
