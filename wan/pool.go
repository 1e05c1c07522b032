package wan

import (
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"consulate/gossip"
	"consulate/lan"
	"consulate/structs"
)

// ServerInfo is lan.ServerInfo: WAN members carry the same server tags.
type ServerInfo = lan.ServerInfo

// NotServerError refuses a WAN merge with a member that is not a server or
// whose name does not end in its datacenter.
type NotServerError struct {
	Member string
	Reason string
}

func (e *NotServerError) Error() string {
	return fmt.Sprintf("Member '%s' cannot join the WAN pool: %s", e.Member, e.Reason)
}

// Pool is the WAN pool; every gossip.Pool method is available on it.
type Pool struct {
	*gossip.Pool
	cfg   Config
	flaps *flapTracker
}

// New starts the WAN pool.
func New(cfg *Config) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lc := cfg.lanConfig()
	g := *lc.Gossip
	g.Tags = lc.BuildTags()
	if g.Component == "" || g.Component == "gossip" {
		g.Component = "gossip.wan"
	}
	if g.Logger == nil {
		g.Logger = slog.Default()
	}
	if g.Clock == nil {
		g.Clock = time.Now
	}
	logger := g.Logger.With("component", g.Component)
	ft := newFlapTracker(cfg.FlapWindow, g.Clock, logger)
	userCheck := g.MergeCheck
	g.MergeCheck = func(peers []structs.Member) error {
		for _, m := range peers {
			if err := checkWANMember(m); err != nil {
				return err
			}
		}
		if userCheck != nil {
			return userCheck(peers)
		}
		return nil
	}
	userObserver := g.Observer
	g.Observer = func(e gossip.Event) {
		ft.observe(e)
		if userObserver != nil {
			userObserver(e)
		}
	}
	gp, err := gossip.New(&g)
	if err != nil {
		return nil, err
	}
	return &Pool{Pool: gp, cfg: *cfg, flaps: ft}, nil
}

func checkWANMember(m structs.Member) error {
	if m.Status != structs.StatusAlive {
		return nil
	}
	if _, ok := lan.IsServer(m); !ok {
		return &NotServerError{Member: m.Name, Reason: "not a server"}
	}
	_, dc, ok := SplitMemberName(m.Name)
	if !ok || dc != m.Tags[lan.TagDatacenter] {
		return &NotServerError{Member: m.Name, Reason: fmt.Sprintf("name is not NODE.%s", m.Tags[lan.TagDatacenter])}
	}
	return nil
}

// Datacenter is this server's datacenter.
func (p *Pool) Datacenter() string { return p.cfg.Datacenter }

// Datacenters groups the known servers (any status) by datacenter, each
// list sorted by name.
func (p *Pool) Datacenters() map[string][]ServerInfo {
	out := map[string][]ServerInfo{}
	for _, m := range p.Members() {
		s, ok := lan.IsServer(m)
		if !ok {
			continue
		}
		out[s.Datacenter] = append(out[s.Datacenter], s)
	}
	for _, list := range out {
		sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	}
	return out
}

// Flaps counts alive → failed → alive transitions of the datacenter's
// servers within the flap window.
func (p *Pool) Flaps(dc string) int { return p.flaps.count(dc) }

// flapTracker remembers when servers failed and came back.
type flapTracker struct {
	window time.Duration
	now    func() time.Time
	logger *slog.Logger

	mu     sync.Mutex // guards failed and flaps
	failed map[string]bool
	flaps  map[string][]time.Time // datacenter -> times a server came back
}

// maxFlapsPerDC bounds memory if a datacenter flaps wildly.
const maxFlapsPerDC = 4096

func newFlapTracker(window time.Duration, now func() time.Time, logger *slog.Logger) *flapTracker {
	return &flapTracker{window: window, now: now, logger: logger,
		failed: map[string]bool{}, flaps: map[string][]time.Time{}}
}

// observe runs on gossip's goroutines (see gossip.Config.Observer).
func (f *flapTracker) observe(e gossip.Event) {
	if e.Type == gossip.User {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range e.Members {
		dc := m.Tags[lan.TagDatacenter]
		switch e.Type {
		case gossip.MemberJoin:
			if f.failed[m.Name] {
				delete(f.failed, m.Name)
				f.flaps[dc] = append(f.pruneLocked(dc), f.now())
				if len(f.flaps[dc]) > maxFlapsPerDC {
					f.flaps[dc] = f.flaps[dc][len(f.flaps[dc])-maxFlapsPerDC:]
				}
				f.logger.Info("WAN server recovered", "member", m.Name, "datacenter", dc)
			} else {
				f.logger.Info("WAN server joined", "member", m.Name, "datacenter", dc)
			}
		case gossip.MemberFailed:
			f.failed[m.Name] = true
			f.logger.Info("WAN server failed", "member", m.Name, "datacenter", dc)
		case gossip.MemberLeave:
			delete(f.failed, m.Name)
			f.logger.Info("WAN server left", "member", m.Name, "datacenter", dc)
		case gossip.MemberReap:
			delete(f.failed, m.Name)
			f.logger.Info("WAN server reaped", "member", m.Name, "datacenter", dc)
		case gossip.MemberUpdate:
			f.logger.Info("WAN server updated", "member", m.Name, "datacenter", dc)
		}
	}
}

func (f *flapTracker) pruneLocked(dc string) []time.Time {
	cutoff := f.now().Add(-f.window)
	list := f.flaps[dc]
	i := 0
	for i < len(list) && !list[i].After(cutoff) {
		i++
	}
	list = list[i:]
	if len(list) == 0 {
		delete(f.flaps, dc)
		return nil
	}
	f.flaps[dc] = list
	return list
}

func (f *flapTracker) count(dc string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pruneLocked(dc))
}
