package server

import (
	"github.com/hashicorp/raft"
)

// await waits for a Raft future, or for the server's shutdown. raft answers
// an Apply or Barrier future once the FSM has applied its entry; when raft
// shuts down between the commit and the apply it never answers it (those
// futures carry no shutdown channel), and a caller blocked in Error()
// would hold Shutdown for ever (seen: establishLeadership's barrier kept
// Shutdown waiting past its deadline). At shutdown await returns
// raft.ErrRaftShutdown at once; its helper goroutine ends when raft
// answers, or stays parked if raft never does.
func (s *Server) await(f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-s.shutdownCtx.Done():
		select {
		case err := <-done:
			return err
		default:
			return raft.ErrRaftShutdown
		}
	}
}
