package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"

	"consulate/acl"
	"consulate/catalog"
	"consulate/snapshot"
	"consulate/structs"
)

// snapshotSave is the Snapshot.Save endpoint (on the leader): the archive
// travels in the reply, so through another agent it is bounded by the RPC
// message size.
func (s *Server) snapshotSave(_ context.Context, args *structs.SnapshotRequest, reply *structs.SnapshotResponse) error {
	// As Consul: snapshots hold every secret, so they take acl:write.
	if err := s.checkToken(args.Token, acl.ResourceACL, "", acl.AccessWrite); err != nil {
		return err
	}
	var buf bytes.Buffer
	idx, err := s.SnapshotSave(&buf)
	if err != nil {
		return err
	}
	reply.Archive, reply.Index = buf.Bytes(), idx
	return nil
}

// snapshotRestore is the Snapshot.Restore endpoint (on the leader).
func (s *Server) snapshotRestore(_ context.Context, args *structs.SnapshotRequest, _ *struct{}) error {
	if err := s.checkToken(args.Token, acl.ResourceACL, "", acl.AccessWrite); err != nil {
		return err
	}
	return s.SnapshotRestore(bytes.NewReader(args.Archive))
}

// ErrNotLeaderForSnapshot is returned when a snapshot is asked of a
// server that is not the leader.
var ErrNotLeaderForSnapshot = errors.New("snapshots are taken and restored on the leader; point the request at it")

// SnapshotSave writes an archive of the current state to w (see package
// snapshot) and returns the Raft index it covers. It must run on the
// leader.
func (s *Server) SnapshotSave(w io.Writer) (uint64, error) {
	if !s.IsLeader() {
		return 0, fmt.Errorf("%w (leader: %s)", ErrNotLeaderForSnapshot, s.Leader())
	}
	meta, rc, err := s.openSnapshot()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	state, err := io.ReadAll(io.LimitReader(rc, snapshot.MaxStateSize+1))
	if err != nil {
		return 0, err
	}
	if len(state) > snapshot.MaxStateSize {
		return 0, fmt.Errorf("server: snapshot larger than %d bytes", snapshot.MaxStateSize)
	}
	return meta.Index, snapshot.Write(w, meta, state)
}

// openSnapshot takes a fresh snapshot, or opens the newest one when
// nothing changed since it.
func (s *Server) openSnapshot() (*raft.SnapshotMeta, io.ReadCloser, error) {
	fut := s.raft.Snapshot()
	if err := s.await(fut); err == nil {
		return fut.Open()
	} else if !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nil, nil, fmt.Errorf("server: snapshot: %w", err)
	}
	list, err := s.snaps.List()
	if err != nil || len(list) == 0 {
		return nil, nil, fmt.Errorf("server: no snapshot to open: %v", err)
	}
	return s.snaps.Open(list[0].ID)
}

// ErrRestoreInProgress is returned when a restore is asked while another
// is still being validated or applied.
var ErrRestoreInProgress = errors.New("server: a snapshot restore is already in progress")

// SnapshotRestore replaces the cluster's state with an archive's. It must
// run on the leader; the followers catch up through Raft.
//
// The archive is checked completely before Raft sees it: the archive
// itself (snapshot.Read: sizes, checksums, version), then its state is
// decoded into a fresh store and thrown away. Raft panics when the FSM
// fails to restore a snapshot it was handed, so an archive that got this
// far and was still bad would take the leader down. One restore runs at a
// time, since each holds the whole state in memory twice.
func (s *Server) SnapshotRestore(r io.Reader) error {
	if !s.IsLeader() {
		return fmt.Errorf("%w (leader: %s)", ErrNotLeaderForSnapshot, s.Leader())
	}
	if !s.restoring.CompareAndSwap(false, true) {
		return ErrRestoreInProgress
	}
	defer s.restoring.Store(false)
	meta, state, err := snapshot.Read(r)
	if err != nil {
		return err
	}
	if err := catalog.VerifySnapshot(state, 0); err != nil {
		return &structs.BadRequestError{Reason: fmt.Sprintf("snapshot: state.bin does not decode: %v", err)}
	}
	meta.Size = int64(len(state))
	if err := s.raft.Restore(meta, bytes.NewReader(state), s.cfg.ApplyTimeout); err != nil {
		return fmt.Errorf("server: restore: %w", err)
	}
	// Leader-only state (session timers) follows the restored sessions.
	s.sessions.restore()
	return nil
}
