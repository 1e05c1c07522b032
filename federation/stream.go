package federation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"consulate/structs"
)

// framedRecv wraps recv and remembers whether a frame arrived: a stream
// that delivered one belongs to its server, and is never moved to
// another server (the subscriber has state from it).
type framedRecv struct {
	recv   func(any) error
	framed bool
}

func (f *framedRecv) fn(frame any) error {
	f.framed = true
	return f.recv(frame)
}

// Stream runs a streaming method (structs.IsStreamMethod) on a server of
// the local datacenter: the preferred alive one, moving on to the next
// only when a server could not be reached (or had no leader, or refused
// for its rate limit) before any frame arrived. Once a frame has arrived
// the stream's end, whatever it is, is returned as is. It blocks until
// the stream ends; see rpcmux.Pool.Stream for what it returns.
func (l *LocalServers) Stream(ctx context.Context, method structs.Method, args any,
	newFrame func() any, recv func(frame any) error) error {
	addrs := l.Addrs()
	if len(addrs) == 0 {
		return structs.ErrNoServers
	}
	var lastErr error
	for _, addr := range addrs {
		fr := &framedRecv{recv: recv}
		err := l.caller.Stream(ctx, l.dc, addr, method, args, newFrame, fr.fn)
		if fr.framed || err == nil {
			if err == nil || answered(err) {
				l.mu.Lock()
				l.preferred = addr
				l.mu.Unlock()
			}
			return err
		}
		if !answered(err) {
			l.demote(addr)
		}
		if !retryable(args, err) || ctx.Err() != nil {
			return err
		}
		lastErr = err
	}
	if errors.Is(lastErr, structs.ErrNoLeader) || errors.Is(lastErr, structs.ErrRateLimited) {
		return lastErr
	}
	return fmt.Errorf("%w: every server failed, last: %v", structs.ErrNoServers, lastErr)
}

// StreamDC runs a streaming method (structs.IsStreamMethod) on a server
// of another datacenter, chosen as ForwardDC chooses (nearest server whose
// newest evidence says it answers). Only a server that could not be
// reached, had no leader or refused for its rate limit before any frame
// arrived is left for the next one; once a frame has arrived the
// stream's end is returned as is. Unlike ForwardDC there is no attempt
// timeout: a stream lives until ctx ends or either side ends it.
//
// Router is the server's Forwarder (server.Deps.Forwarder).
func (r *Router) StreamDC(ctx context.Context, dc structs.Datacenter, method structs.Method,
	args any, newFrame func() any, recv func(frame any) error) error {
	dcName := string(dc)
	addrs, err := r.candidates(dcName)
	if err != nil {
		r.record(dcName, "", time.Time{}, err, err)
		return err
	}
	var lastErr error
	for i, addr := range addrs {
		if ctx.Err() != nil {
			break
		}
		if i > 0 && !r.usable(dcName, addr) {
			continue
		}
		started := r.cfg.Now()
		fr := &framedRecv{recv: recv}
		err := r.caller.Stream(ctx, dc, addr, method, args, newFrame, fr.fn)
		var re *structs.RemoteError
		isAnswer := errors.As(err, &re)
		moveOn := !fr.framed && err != nil && ctx.Err() == nil &&
			(!isAnswer || errors.Is(err, structs.ErrNoLeader) || errors.Is(err, structs.ErrRateLimited))
		if !moveOn {
			// It reached the server (a frame or an answer), or the caller
			// gave up, which says nothing about the server.
			if fr.framed || isAnswer {
				r.record(dcName, addr, started, nil, nil)
			}
			return err
		}
		lastErr = err
		serverErr := err
		if isAnswer {
			serverErr = nil
		}
		r.record(dcName, addr, started, err, serverErr)
		r.logger.Warn("cross-datacenter stream failed", "datacenter", dcName, "server", addr, "method", method, "error", err)
	}
	if lastErr == nil {
		if lastErr = ctx.Err(); lastErr == nil {
			lastErr = errors.New("no server left to try")
		}
	}
	return fmt.Errorf("%w %q: %w", structs.ErrNoDCPath, dcName, lastErr)
}
