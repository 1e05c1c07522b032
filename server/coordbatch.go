package server

import (
	"context"
	"sync"

	"consulate/catalog"
	"consulate/structs"
)

// coordBatchSize bounds the coordinates of one Raft entry, as Consul's
// coordinate_update_batch_size.
const coordBatchSize = 128

// coordBatch gathers the leader's coordinate updates into few Raft
// entries, as Consul batches them, but as a group commit: an update
// waits for the entry that carries it (so a client reads its own
// coordinate once the call returns), and the updates that arrive while
// an entry is being applied all go in the next one, the latest per node.
// Idle, an update is applied at once; under load Raft sees one entry per
// round instead of one per agent. The zero value is ready.
type coordBatch struct {
	mu      sync.Mutex
	pending map[string]*structs.Coordinate
	waiters []chan error
	once    sync.Once
	wake    chan struct{}
}

func (b *coordBatch) wakeCh() chan struct{} {
	b.once.Do(func() { b.wake = make(chan struct{}, 1) })
	return b.wake
}

// queueCoordinate hands c to the flusher and waits for the outcome of
// the entry that carries it.
func (s *Server) queueCoordinate(ctx context.Context, c *structs.Coordinate) error {
	b := &s.coords
	done := make(chan error, 1)
	b.mu.Lock()
	if b.pending == nil {
		b.pending = map[string]*structs.Coordinate{}
	}
	b.pending[c.Node] = c
	b.waiters = append(b.waiters, done)
	b.mu.Unlock()
	select {
	case b.wakeCh() <- struct{}{}:
	default:
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-s.shutdownCtx.Done():
		return structs.ErrNoLeader
	}
}

// coordinateFlusher applies the queued coordinates until shutdown.
func (s *Server) coordinateFlusher() {
	b := &s.coords
	for {
		select {
		case <-s.shutdownCtx.Done():
			return
		case <-b.wakeCh():
		}
		b.mu.Lock()
		pending, waiters := b.pending, b.waiters
		b.pending, b.waiters = nil, nil
		b.mu.Unlock()
		var err error
		batch := make(structs.Coordinates, 0, min(len(pending), coordBatchSize))
		for _, c := range pending {
			batch = append(batch, c)
			if len(batch) == coordBatchSize {
				if err = s.applyCoordinates(batch); err != nil {
					break
				}
				batch = batch[:0]
			}
		}
		if err == nil && len(batch) > 0 {
			err = s.applyCoordinates(batch)
		}
		for _, w := range waiters {
			w <- err
		}
	}
}

func (s *Server) applyCoordinates(batch structs.Coordinates) error {
	_, err := s.raftApply(catalog.CoordinateBatchUpdateType, batch)
	return err
}
