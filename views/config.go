package views

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"consulate/structs"
)

// ErrInvalidConfig is wrapped by every error Config.Validate (and so New)
// returns.
var ErrInvalidConfig = errors.New("views: invalid config")

// SubscribeFunc subscribes to a service's health: it calls recv with every
// frame (the first a snapshot) and blocks until the stream ends, returning
// why (ctx's error when ctx ended it, structs.ErrSubscriptionClosed when a
// server ended it to be resubscribed, recv's error, a transport error).
type SubscribeFunc func(ctx context.Context, req *structs.SubscribeRequest,
	recv func(*structs.ServiceHealthEvent) error) error

// CoordinatesFunc returns the LAN coordinates of the nodes of datacenter
// dc ("" is the local one), for ?near= sorting. It may block on the
// network and must return when ctx is done.
type CoordinatesFunc func(ctx context.Context, dc string) (structs.Coordinates, error)

// Config configures a Store.
type Config struct {
	// LocalDC is this agent's datacenter; required. Only its nodes have
	// coordinates, so ?near= sorts only reads of it (as the servers do).
	LocalDC string
	// IdleTTL drops a view (and ends its subscription) nobody read for
	// this long.
	IdleTTL time.Duration
	// MaxViews bounds the views held, each with one subscription and one
	// goroutine; reads of further (datacenter, service, token) go to the
	// servers until a view is dropped.
	MaxViews int
	// DefaultQueryTime is a blocking read's wait when it asks for none,
	// MaxQueryTime the most it may wait (Consul: 5 and 10 minutes); a
	// jitter of up to wait/16 is added, as the servers do.
	DefaultQueryTime, MaxQueryTime time.Duration
	// RetryMin and RetryMax bound the backoff between subscriptions after
	// one ends; a stream that delivered a snapshot resets it.
	RetryMin, RetryMax time.Duration
	// RemoteDatacenters lets views serve reads of other datacenters too
	// (one view per datacenter, service and token, its stream relayed by
	// a server here and carrying the remote servers' heartbeats, so a WAN
	// cut stops the view within StaleAfter of its last frame).
	//
	// Off by default: e2e/TestWANPartition holds that no cross-DC read
	// answers at all once the WAN is cut, and a view answers from memory
	// until it notices the silence: measured on, web.service.dc2 SRV
	// through the client answered NOERROR from +1 ms to +916 ms into the
	// cut (up to StaleAfter is possible). Off, such reads go to the
	// servers, which fail them at once.
	RemoteDatacenters bool
	// RemoteBlocking serves blocking reads (MinQueryIndex > 0) of other
	// datacenters from views even with RemoteDatacenters off, so every
	// watcher of a remote service on this agent (consul-template, watch
	// plans) shares one subscription. A blocking read answers when its
	// view changes, which only a frame from the remote servers does, so
	// a cut WAN holds it (and after StaleAfter sends it to the servers)
	// rather than answering it from a dead view. On by default.
	RemoteBlocking bool
	// StaleAfter is how long a view's stream may deliver nothing (no
	// change, no heartbeat) before the view counts as dead: it stops
	// serving, as when its stream ends, its blocked readers go to the
	// servers, and it subscribes again. The servers send a heartbeat
	// after 500 ms of silence (server.Config.SubscriptionHeartbeat); the
	// default of three heartbeats leaves room for a loaded machine.
	StaleAfter time.Duration
	// CoordinateTTL is how long a datacenter's coordinates read for
	// ?near= are reused (they move slowly; agents send theirs every few
	// seconds at most).
	CoordinateTTL time.Duration
}

// DefaultConfig returns the production settings.
func DefaultConfig() Config {
	return Config{IdleTTL: 20 * time.Minute, MaxViews: 2048,
		DefaultQueryTime: 5 * time.Minute, MaxQueryTime: 10 * time.Minute,
		RetryMin: 100 * time.Millisecond, RetryMax: 10 * time.Second, CoordinateTTL: 5 * time.Second,
		StaleAfter: 1500 * time.Millisecond, RemoteBlocking: true}
}

// Validate reports a config that cannot work.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.LocalDC == "":
		return bad("LocalDC is required")
	case c.IdleTTL <= 0:
		return bad("IdleTTL must be positive, got %v", c.IdleTTL)
	case c.MaxViews <= 0:
		return bad("MaxViews must be positive, got %d", c.MaxViews)
	case c.DefaultQueryTime <= 0 || c.MaxQueryTime < c.DefaultQueryTime:
		return bad("query times %v..%v must be positive and ordered", c.DefaultQueryTime, c.MaxQueryTime)
	case c.RetryMin <= 0 || c.RetryMax < c.RetryMin:
		return bad("retry backoff %v..%v must be positive and ordered", c.RetryMin, c.RetryMax)
	case c.StaleAfter <= 0:
		return bad("StaleAfter must be positive, got %v", c.StaleAfter)
	case c.CoordinateTTL <= 0:
		return bad("CoordinateTTL must be positive, got %v", c.CoordinateTTL)
	}
	return nil
}

// Deps are what a Store talks to.
type Deps struct {
	// Subscribe opens the subscriptions; required.
	Subscribe SubscribeFunc
	// Coordinates feeds ?near= sorting; nil sends reads with a near
	// source to the servers.
	Coordinates CoordinatesFunc
	// NodeName is this agent's node, what ?near=_agent means.
	NodeName string
	// Logger receives the store's logs; nil discards them.
	Logger *slog.Logger
}
