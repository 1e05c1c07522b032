package httpapi

import (
	"bytes"
	"net/http"
	"strconv"
)

// snapshot serves /v1/snapshot: GET saves an archive, PUT restores one.
func (s *Server) snapshot(w http.ResponseWriter, r *http.Request) (any, error) {
	if s.cfg.SnapshotSave == nil || s.cfg.SnapshotRestore == nil {
		return nil, notFound("snapshots are served by server agents")
	}
	if r.Method == put {
		body := http.MaxBytesReader(w, r.Body, maxSnapshotBytes)
		if err := s.cfg.SnapshotRestore(body); err != nil {
			return nil, err
		}
		return nil, nil
	}
	var buf bytes.Buffer
	idx, err := s.cfg.SnapshotSave(&buf)
	if err != nil {
		return nil, err
	}
	w.Header().Set("Content-Type", "application/x-gzip")
	w.Header().Set("X-Consul-Index", strconv.FormatUint(max(idx, 1), 10))
	return rawBody(buf.Bytes()), nil
}

// maxSnapshotBytes bounds an uploaded snapshot archive.
const maxSnapshotBytes = 1 << 30
