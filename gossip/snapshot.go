package gossip

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"consulate/structs"
)

// PreviousMember is a member known in an earlier run, for -rejoin.
type PreviousMember struct {
	Name string `json:"name"`
	Addr string `json:"addr"` // host:port of its gossip address
	// RPCAddr is a server's RPC address (host:port, from its tags), by
	// which a WAN rejoin through federation gateways routes it; "" for
	// other members and in snapshots written before it existed.
	RPCAddr string `json:"rpc_addr,omitempty"`
}

// snapshotFile is the saved form. Unlike serf's append-only log it is
// rewritten whole (write to a temporary file, then rename) because the
// member list is small and a whole file cannot be half-applied.
type snapshotFile struct {
	Alive      []PreviousMember `json:"alive"`
	Clock      LamportTime      `json:"clock"`
	EventClock LamportTime      `json:"event_clock"`
	Left       bool             `json:"left"`
}

type previousRun struct {
	members    []PreviousMember
	clock      LamportTime
	eventClock LamportTime
}

type snapshotter struct {
	path   string
	logger *slog.Logger
	signal chan struct{}

	mu   sync.Mutex // guards left and serializes writes
	left bool
}

// openSnapshot reads a snapshot (a missing file is an empty one) and makes
// sure its directory exists.
func openSnapshot(path string, rejoinAfterLeave bool, logger *slog.Logger) (*snapshotter, previousRun, error) {
	var prev previousRun
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, prev, fmt.Errorf("gossip: snapshot directory: %w", err)
	}
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, prev, fmt.Errorf("gossip: read snapshot %s: %w", path, err)
	default:
		var f snapshotFile
		if err := json.Unmarshal(raw, &f); err != nil {
			// A damaged snapshot only costs us the rejoin list.
			logger.Warn("ignoring unreadable gossip snapshot", "path", path, "error", err)
		} else {
			prev.clock, prev.eventClock = f.Clock, f.EventClock
			if !f.Left || rejoinAfterLeave {
				prev.members = f.Alive
			}
		}
	}
	return &snapshotter{path: path, logger: logger, signal: make(chan struct{}, 1)}, prev, nil
}

// restoreSnapshot opens the snapshot file when one is configured: it keeps
// the previous run's members for -rejoin and moves the clocks past the
// saved times.
func (p *Pool) restoreSnapshot() error {
	if p.cfg.SnapshotPath == "" {
		return nil
	}
	snap, prev, err := openSnapshot(p.cfg.SnapshotPath, p.cfg.RejoinAfterLeave, p.logger)
	if err != nil {
		return err
	}
	p.snap = snap
	p.previous = prev.members
	p.clock.Witness(prev.clock)
	p.eventClock.Witness(prev.eventClock)
	// Events up to the saved time were handled before the restart.
	if prev.eventClock > 0 {
		p.eventMinTime = prev.eventClock + 1
	}
	return nil
}

// PreviousMembers returns the members saved by the previous run (nothing
// if it ended with a graceful leave, unless RejoinAfterLeave), for -rejoin.
func (p *Pool) PreviousMembers() []PreviousMember {
	return append([]PreviousMember(nil), p.previous...)
}

// PreviousMemberAddrs is PreviousMembers as Join addresses ("name/host:port").
func (p *Pool) PreviousMemberAddrs() []string {
	out := make([]string, 0, len(p.previous))
	for _, m := range p.previous {
		out = append(out, JoinAddr(m.Name, m.Addr))
	}
	return out
}

func (s *snapshotter) markLeft() {
	s.mu.Lock()
	s.left = true
	s.mu.Unlock()
}

func (s *snapshotter) write(f snapshotFile) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f.Left = s.left
	if f.Left {
		f.Alive = nil
	}
	raw, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("gossip: encode snapshot: %w", err)
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return fmt.Errorf("gossip: write snapshot: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("gossip: replace snapshot: %w", err)
	}
	return nil
}

// snapshotChanged asks the snapshot goroutine to save; it never blocks.
func (p *Pool) snapshotChanged() {
	if p.snap == nil {
		return
	}
	select {
	case p.snap.signal <- struct{}{}:
	default:
	}
}

func (p *Pool) snapshotContent() snapshotFile {
	f := snapshotFile{Clock: p.clock.Time(), EventClock: p.eventClock.Time()}
	p.memberLock.RLock()
	for name, ms := range p.members {
		if name == p.cfg.NodeName || ms.member.Status != structs.StatusAlive {
			continue
		}
		pm := PreviousMember{Name: name, Addr: joinHostPort(ms.member.Addr, ms.member.Port)}
		if si, ok := structs.ParseServer(ms.member); ok {
			pm.RPCAddr = si.Addr
		}
		f.Alive = append(f.Alive, pm)
	}
	p.memberLock.RUnlock()
	sort.Slice(f.Alive, func(i, j int) bool { return f.Alive[i].Name < f.Alive[j].Name })
	return f
}

func (p *Pool) snapshotLoop() {
	defer p.wg.Done()
	for {
		select {
		case <-p.snap.signal:
		case <-p.shutdownCh:
			return
		}
		if err := p.snap.write(p.snapshotContent()); err != nil {
			p.logger.Warn("could not save gossip snapshot", "error", err)
		}
	}
}
