package rpcmux

import (
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

// streamSet tracks the open streams of one yamux session.
//
// yamux v0.1.2 has a flaw: a Stream.Read blocked when its session shuts
// down spins (its wait loop keeps seeing the closed shutdown channel)
// until Session.Close reaches that stream, and the spinning readers fight
// Close for the stream locks; with many streams this burns CPU for
// seconds. Expiring every stream's read deadline as soon as the session
// ends makes those reads return at once.
type streamSet struct {
	mu sync.Mutex
	m  map[*yamux.Stream]struct{}
	// drained is closed when the set becomes empty, if someone waits.
	drained chan struct{}
}

func (s *streamSet) add(st *yamux.Stream) {
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[*yamux.Stream]struct{})
	}
	s.m[st] = struct{}{}
	s.mu.Unlock()
}

func (s *streamSet) remove(st *yamux.Stream) {
	s.mu.Lock()
	delete(s.m, st)
	if len(s.m) == 0 && s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
	s.mu.Unlock()
}

// waitEmpty waits until every stream has been removed, or d passes.
func (s *streamSet) waitEmpty(d time.Duration) {
	s.mu.Lock()
	if len(s.m) == 0 {
		s.mu.Unlock()
		return
	}
	if s.drained == nil {
		s.drained = make(chan struct{})
	}
	ch := s.drained
	s.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
}

// expireAll wakes every blocked read and write with a timeout.
func (s *streamSet) expireAll() {
	past := time.Unix(1, 0)
	s.mu.Lock()
	for st := range s.m {
		_ = st.SetDeadline(past)
	}
	s.mu.Unlock()
}
