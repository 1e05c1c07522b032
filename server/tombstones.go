package server

import (
	"time"

	"consulate/catalog"
	"consulate/structs"
)

// tombstoneGC reaps KV tombstones older than TombstoneTTL while this
// server leads. It samples the Raft index every TombstoneGranularity and
// reaps up to the newest sample taken more than TombstoneTTL ago, so a
// blocking query that saw a delete keeps its index long enough.
func (s *Server) tombstoneGC() {
	defer s.wg.Done()
	type sample struct {
		at    time.Time
		index uint64
	}
	var samples []sample
	var reaped uint64
	t := time.NewTicker(s.cfg.TombstoneGranularity)
	defer t.Stop()
	for {
		select {
		case <-s.shutdownCtx.Done():
			return
		case now := <-t.C:
			if !s.IsLeader() {
				samples = samples[:0]
				continue
			}
			samples = append(samples, sample{now, s.raft.LastIndex()})
			upTo := uint64(0)
			keep := samples[:0]
			for _, sm := range samples {
				if now.Sub(sm.at) >= s.cfg.TombstoneTTL {
					upTo = sm.index
				} else {
					keep = append(keep, sm)
				}
			}
			samples = keep
			if upTo <= reaped || s.State().TombstoneCount() == 0 {
				continue
			}
			if _, err := s.raftApply(catalog.TombstoneReapType, &structs.TombstoneReapRequest{ReapIndex: upTo}); err != nil {
				s.logger.Warn("reaping KV tombstones", "error", err)
				continue
			}
			reaped = upTo
		}
	}
}
