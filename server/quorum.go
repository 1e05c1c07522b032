package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"consulate/structs"
)

// ErrOutcomeUnknown is a write whose leader lost leadership after taking
// it: it may still be committed by the next leader, or never. It is not
// structs.ErrNoLeader on purpose, so neither a server forwarding it nor a
// client agent sends it again (that could apply it twice, and a CAS
// applied twice answers false for a write that happened).
var ErrOutcomeUnknown = errors.New("leadership lost while the write was in flight: it may or may not have been applied")

// ErrCutOff is a request held for a leader on a server that cannot reach
// a majority of the voters: no leader it could forward to will appear
// before the partition heals, so the request fails at once (it wraps
// structs.ErrNoLeader) and a client agent moves on to another server
// instead of waiting out the hold.
var ErrCutOff = errors.New("this server cannot reach a majority of the servers")

// mapApplyErr is mapRaftErr for a raft.Apply: losing leadership with the
// entry in flight leaves its outcome unknown.
func mapApplyErr(err error) error {
	if errors.Is(err, raft.ErrLeadershipLost) {
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
	return mapRaftErr(err)
}

// quorumProbe remembers the last answer to "can this server reach a
// majority of the voters?" so that a burst of held requests costs one
// round of pings.
type quorumProbe struct {
	// mu guards at, cutOff and running.
	mu      sync.Mutex
	at      time.Time
	cutOff  bool
	running chan struct{} // closed when the probe in flight ends
}

// quorumProbeValid is how long a probe's answer is reused.
const quorumProbeValid = 500 * time.Millisecond

// cutOff reports whether this server, knowing no leader, fails to reach
// a majority of the voters (itself included) with Status.Ping within
// cfg.QuorumProbeTimeout. It answers false when it cannot tell (no
// way to reach other servers, no configuration, probing off).
func (s *Server) cutOff(ctx context.Context) bool {
	if s.servers == nil || s.cfg.QuorumProbeTimeout <= 0 {
		return false
	}
	p := &s.quorum
	p.mu.Lock()
	if time.Since(p.at) < quorumProbeValid {
		c := p.cutOff
		p.mu.Unlock()
		return c
	}
	running := p.running
	if running == nil {
		running = make(chan struct{})
		p.running = running
		go s.probeQuorum(running)
	}
	p.mu.Unlock()
	select {
	case <-running:
	case <-ctx.Done():
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cutOff
}

// probeQuorum pings every other voter at once and records the answer.
func (s *Server) probeQuorum(done chan struct{}) {
	cut := false
	defer func() {
		p := &s.quorum
		p.mu.Lock()
		p.at, p.cutOff, p.running = time.Now(), cut, nil
		p.mu.Unlock()
		close(done)
	}()
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	self := s.trans.LocalAddr()
	voters, reached := 0, 1
	var others []raft.ServerAddress
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage != raft.Voter {
			continue
		}
		voters++
		if srv.Address != self {
			others = append(others, srv.Address)
		}
	}
	if voters < 2 {
		return
	}
	ctx, cancel := context.WithTimeout(s.shutdownCtx, s.cfg.QuorumProbeTimeout)
	defer cancel()
	answers := make(chan bool, len(others))
	for _, addr := range others {
		go func() {
			err := s.servers.Call(ctx, structs.Datacenter(s.cfg.Datacenter), structs.ServerAddr(addr), structs.MethodStatusPing, &structs.EmptyRequest{}, &struct{}{})
			answers <- err == nil
		}()
	}
	for range others {
		if <-answers {
			reached++
		}
	}
	cut = reached*2 <= voters
	if cut {
		s.logger.Warn("no leader and a majority of the servers is unreachable: failing held requests at once",
			"reached", reached, "voters", voters)
	}
}
