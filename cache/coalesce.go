package cache

import (
	"context"
	"sync"
	"time"
)

// maxSharedCall bounds a shared call whose starter has no deadline.
const maxSharedCall = 30 * time.Second

// Reads of another datacenter are never answered from memory (see
// Config.Reachable), but many callers asking the same thing at once need
// not each cross the WAN: a read joins the next call for its key, one that
// starts after the read arrived, so every answer still comes from a server
// asked after the question was. While a call is in flight, the reads that
// arrive wait for it to end and then share the one call that follows; with
// a few hundred DNS queries in flight that is one WAN round trip per
// handful of queries instead of one each, and a cut WAN fails them all as
// it would fail each.

// flight is one call shared by the reads that joined it.
type flight struct {
	done  chan struct{}
	value any
	err   error
}

// flights are the calls of one key: the one in flight and the one the
// reads arriving meanwhile will share.
type flights struct {
	cur, next *flight
}

// coalescer holds the flights of every key being read through.
type coalescer struct {
	mu   sync.Mutex
	keys map[string]*flights
}

// read answers req through call, sharing the call with the other reads of
// the same key as described above. call fills reply; the value shared
// with the others is req.load(reply), read-only like every cached value.
func (co *coalescer) read(ctx context.Context, req *request, reply any, call func(ctx context.Context) error) error {
	co.mu.Lock()
	if co.keys == nil {
		co.keys = make(map[string]*flights)
	}
	fs := co.keys[req.key]
	if fs == nil {
		fs = &flights{}
		co.keys[req.key] = fs
	}
	if fs.cur == nil {
		// Nothing in flight: this read's call starts now.
		f := &flight{done: make(chan struct{})}
		fs.cur = f
		co.mu.Unlock()
		return co.run(ctx, req, fs, f, reply, call)
	}
	f, starter := fs.next, false
	if f == nil {
		f, starter = &flight{done: make(chan struct{})}, true
		fs.next = f
	}
	cur := fs.cur
	co.mu.Unlock()
	if starter {
		// This read runs the next call once the current one ends (that
		// call is bounded by its own deadline); the reads joining
		// meanwhile share it.
		<-cur.done
		co.mu.Lock()
		fs.cur, fs.next = f, nil
		co.mu.Unlock()
		return co.run(ctx, req, fs, f, reply, call)
	}
	select {
	case <-f.done:
		if f.err != nil {
			return f.err
		}
		req.store(f.value, reply)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run makes f's call, publishes its outcome and retires f.
func (co *coalescer) run(ctx context.Context, req *request, fs *flights, f *flight, reply any, call func(ctx context.Context) error) error {
	// The call is shared: one caller giving up must not fail the others,
	// so it runs until the starter's deadline (maxSharedCall at most), not
	// until its cancellation.
	dl, ok := ctx.Deadline()
	if !ok || time.Until(dl) > maxSharedCall {
		dl = time.Now().Add(maxSharedCall)
	}
	cctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), dl)
	err := call(cctx)
	cancel()
	if err == nil {
		f.value, _ = req.load(reply)
	}
	f.err = err
	co.mu.Lock()
	if fs.cur == f {
		fs.cur = nil
	}
	if fs.cur == nil && fs.next == nil && co.keys[req.key] == fs {
		delete(co.keys, req.key)
	}
	co.mu.Unlock()
	close(f.done)
	return err
}

// inFlight is the number of keys with a call in flight or waiting.
func (co *coalescer) inFlight() int {
	co.mu.Lock()
	defer co.mu.Unlock()
	return len(co.keys)
}
