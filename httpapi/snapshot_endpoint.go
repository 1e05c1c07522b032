package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"consulate/structs"
)

// snapshot serves /v1/snapshot: GET saves an archive, PUT restores one;
// either is forwarded to the leader (of ?dc= when given). The leader
// checks an archive completely before restoring it; a bad one is a 400.
// The archive travels to the leader inside one RPC message, so through
// an agent other than the leader it is also bounded by the RPC message
// size.
func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) (any, error) {
	args := structs.SnapshotRequest{}
	parseWrite(r, &args.Datacenter, &args.WriteRequest)
	if r.Method == put {
		// An archive may be large: it gets its own size and time limits.
		s.limitBodyTime(w, r, s.cfg.SnapshotReadTimeout)
		body, err := readBody(r, s.cfg.MaxSnapshotBytes)
		var ce *codedError
		if errors.As(err, &ce) && ce.code == http.StatusRequestEntityTooLarge {
			// readBody's message is about KV values.
			return nil, &codedError{ce.code, fmt.Sprintf("Snapshot archive too large, max size: %d bytes", s.cfg.MaxSnapshotBytes)}
		}
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
