// Package waitctx waits for a sync.WaitGroup within a context: the one
// shape every Shutdown(ctx) in this module ends with.
package waitctx

import (
	"context"
	"sync"
)

// Wait returns nil once wg is done, or ctx.Err() if ctx ends first (the
// goroutines it waited for then go on; the one waiting for them ends with
// them).
func Wait(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
