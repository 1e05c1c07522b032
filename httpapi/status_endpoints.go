package httpapi

import (
	"net/http"

	"consulate/structs"
)

func (s *Server) statusLeader(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.EmptyRequest
	if _, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions); err != nil {
		return nil, err
	}
	var out string
	if err := s.agent.RPC(r.Context(), structs.MethodStatusLeader, &args, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Server) statusPeers(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.EmptyRequest
	if _, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions); err != nil {
		return nil, err
	}
	var out []string
	if err := s.agent.RPC(r.Context(), structs.MethodStatusPeers, &args, &out); err != nil {
		return nil, err
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

func (s *Server) raftConfiguration(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.DCSpecificRequest
	if _, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions); err != nil {
		return nil, err
	}
	var out structs.RaftConfigurationResponse
	if err := s.agent.RPC(r.Context(), structs.MethodOperatorRaftConfiguration, &args, &out); err != nil {
		return nil, err
	}
	if out.Servers == nil {
		out.Servers = []*structs.RaftServer{}
	}
	return out, nil
}

func (s *Server) raftPeer(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.RaftRemovePeerRequest
	parseWrite(r, &args.Datacenter, &args.WriteRequest)
	q := query(r)
	args.Address, args.ID = q.Get("address"), q.Get("id")
	switch {
	case args.Address == "" && args.ID == "":
		return nil, badRequest("Must specify either ?id with the server's ID or ?address with IP:port of peer to remove")
	case args.Address != "" && args.ID != "":
		return nil, badRequest("Must specify only one of ?id or ?address")
	}
	var out struct{}
	return nil, s.agent.RPC(r.Context(), structs.MethodOperatorRaftRemovePeer, &args, &out)
}

func (s *Server) coordinateDatacenters(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.DCSpecificRequest
	if _, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions); err != nil {
		return nil, err
	}
	var out []*structs.DatacenterMap
	if err := s.agent.RPC(r.Context(), structs.MethodCoordinateListDatacenters, &args, &out); err != nil {
		return nil, err
	}
	if out == nil {
		out = []*structs.DatacenterMap{}
	}
	return out, nil
}

func (s *Server) coordinateNodes(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.coordinates(w, r, "")
}

func (s *Server) coordinateNode(w http.ResponseWriter, r *http.Request) (any, error) {
	node := tail(r, "/v1/coordinate/node/")
	if node == "" {
		return nil, badRequest("Missing node name")
	}
	return s.coordinates(w, r, node)
}

func (s *Server) coordinates(w http.ResponseWriter, r *http.Request, node string) (any, error) {
	var args structs.DCSpecificRequest
	f, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	if err := validateFilter(f, &structs.Coordinate{}); err != nil {
		return nil, err
	}
	var out structs.IndexedCoordinates
	if err := s.rpcRead(w, r, structs.MethodCoordinateListNodes, &args.QueryOptions, &args, &out, &out.QueryMeta); err != nil {
		return nil, err
	}
	list := structs.Coordinates{}
	for _, c := range out.Coordinates {
		if (node == "" || c.Node == node) && (f == nil || f.Match(c)) {
			list = append(list, c)
		}
	}
	if node != "" && len(list) == 0 {
		return nil, notFound("Unknown node %q", node)
	}
	return list, nil
}
