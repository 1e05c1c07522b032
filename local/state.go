package local

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"sync"

	"consulate/checks"
)

// State is the agent's local services and checks. All methods are safe
// for concurrent use.
type State struct {
	cfg    Config
	rpc    RPCFunc
	logger *slog.Logger

	// mu guards everything below. Runner methods are never called with
	// mu held: runners report into the State, which takes mu.
	mu         sync.Mutex
	services   map[string]*serviceState
	checks     map[string]*checkState
	nodeInSync bool
	genSeq     uint64
	started    bool
	shutdown   bool
	subs       map[chan struct{}]struct{}
	// changeSeq counts notifications, so alias checks watching this
	// State can tell whether they missed one.
	changeSeq uint64

	// syncSem (capacity 1) serialises syncs with each other; a channel
	// rather than a mutex so a caller can stop waiting for a sync stuck
	// on an unreachable server.
	syncSem chan struct{}

	triggerCh chan struct{}
	// fullCh asks the sync loop for a full sync now.
	fullCh chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{}
}

// New builds a State and restores persisted services and checks from
// cfg.DataDir. Nothing runs until Start.
func New(cfg Config, rpc RPCFunc) (*State, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if rpc == nil {
		return nil, fmt.Errorf("%w: an RPC function is required", ErrInvalidConfig)
	}
	cfg.withDefaults()
	cfg.TaggedAddresses = maps.Clone(cfg.TaggedAddresses)
	cfg.NodeMeta = maps.Clone(cfg.NodeMeta)
	s := &State{
		cfg:       cfg,
		rpc:       rpc,
		logger:    cfg.Logger.With("component", "local"),
		services:  make(map[string]*serviceState),
		checks:    make(map[string]*checkState),
		subs:      make(map[chan struct{}]struct{}),
		triggerCh: make(chan struct{}, 1),
		fullCh:    make(chan struct{}, 1),
		syncSem:   make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	if err := s.Load(); err != nil {
		return nil, err
	}
	return s, nil
}

// Start starts the check runners, the anti-entropy loop (whose first full
// sync runs at once) and the reaper. ctx gives values only; Shutdown
// stops everything.
func (s *State) Start(ctx context.Context) {
	s.mu.Lock()
	if s.started || s.shutdown {
		s.mu.Unlock()
		return
	}
	s.started = true
	var runners []checks.Runner
	for _, c := range s.checks {
		if !c.deleted && c.runner != nil {
			runners = append(runners, c.runner)
		}
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.mu.Unlock()

	startRunners(runners)
	s.wg.Add(2)
	go s.syncLoop(lctx)
	go s.reapLoop(lctx)
}

// Shutdown stops the runners and loops and waits for them, or for ctx.
// It is idempotent.
func (s *State) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.shutdown {
		s.shutdown = true
		var runners []checks.Runner
		for _, c := range s.checks {
			if c.runner != nil {
				runners = append(runners, c.runner)
			}
			if c.deferTimer != nil {
				c.deferTimer.Stop()
				c.deferTimer = nil
			}
		}
		if s.cancel != nil {
			s.cancel()
		}
		s.mu.Unlock()
		go func() {
			stopRunners(runners)
			s.wg.Wait()
			close(s.done)
		}()
	} else {
		s.mu.Unlock()
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Subscribe returns a channel that receives (coalesced) whenever a local
// service or check changes, and a function that ends the subscription.
func (s *State) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
	}
}

// changedLocked tells subscribers and the sync loop that something moved.
func (s *State) changedLocked() {
	s.notifySubsLocked()
	s.triggerSync()
}

func (s *State) notifySubsLocked() {
	s.changeSeq++
	for ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// TriggerFullSync asks the sync loop for a full sync now, as Consul's
// agent does when one of its tokens changes: registrations refused for
// their token are retried at once rather than at the next periodic sync.
func (s *State) TriggerFullSync() {
	select {
	case s.fullCh <- struct{}{}:
	default:
	}
}

func (s *State) triggerSync() {
	select {
	case s.triggerCh <- struct{}{}:
	default:
	}
}

func (s *State) nextGen() uint64 {
	s.genSeq++
	return s.genSeq
}
