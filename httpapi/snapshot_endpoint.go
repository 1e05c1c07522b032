package httpapi

import (
	"net/http"
	"strconv"

	"consulate/structs"
)

// maxSnapshotBytes bounds an uploaded snapshot archive.
const maxSnapshotBytes = 1 << 30

// snapshot serves /v1/snapshot: GET saves an archive, PUT restores one;
// either is forwarded to the leader (of ?dc= when given).
func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) (any, error) {
	args := structs.SnapshotRequest{}
	parseWrite(r, &args.Datacenter, &args.WriteRequest)
	if r.Method == put {
		body, err := readBody(r, maxSnapshotBytes)
		if err != nil {
			return nil, err
		}
		args.Archive = body
		return nil, s.agent.RPC(r.Context(), structs.MethodSnapshotRestore, &args, &struct{}{})
	}
	var out structs.SnapshotResponse
	if err := s.agent.RPC(r.Context(), structs.MethodSnapshotSave, &args, &out); err != nil {
		return nil, err
	}
	w.Header().Set("Content-Type", "application/x-gzip")
	w.Header().Set("X-Consul-Index", strconv.FormatUint(max(out.Index, 1), 10))
	return rawBody(out.Archive), nil
}
