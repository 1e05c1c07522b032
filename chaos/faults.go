package chaos

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"consulate/chaos/cluster"
)

// Fault is one kind of trouble the harness can cause. Inject finds its
// victims, causes the fault, waits its duration, heals it and fills the
// round's marks (Start, Heal, Origin, Faulted, Minority).
type Fault struct {
	Name string
	// Target is the bound on recovery this fault is held to (0: none).
	Target time.Duration
	Inject func(ctx context.Context, r *Runner, rd *Round) error
}

// Faults are the harness's faults, in the order a short round runs them.
func Faults() []Fault {
	return []Fault{
		{Name: "leader-cut", Target: 3 * time.Second, Inject: leaderCut},
		{Name: "leader-kill", Target: 3 * time.Second, Inject: leaderKill},
		{Name: "leader-stop", Target: 3 * time.Second, Inject: leaderStop},
		{Name: "all-kill", Inject: allKill},
		{Name: "split", Inject: split},
		{Name: "follower-cut", Inject: followerCut},
	}
}

// FaultByName returns the fault called name.
func FaultByName(name string) (Fault, bool) {
	for _, f := range Faults() {
		if f.Name == name {
			return f, true
		}
	}
	return Fault{}, false
}

// Durations of the faults, as the issue states them.
const (
	cutFor   = 6 * time.Second
	stopFor  = 5 * time.Second
	splitFor = 8 * time.Second
)

func (r *Runner) leader(ctx context.Context) (*cluster.Agent, error) {
	c, cancel := context.WithTimeout(ctx, r.cfg.StableWithin)
	defer cancel()
	return r.cfg.Cluster.WaitLeader(c, true)
}

// leaderCut cuts the leader off from the other servers (not from the
// client agent) for 6 s, and watches it step down.
func leaderCut(ctx context.Context, r *Runner, rd *Round) error {
	l, err := r.leader(ctx)
	if err != nil {
		return err
	}
	rd.Victim = l.Name
	rd.Faulted = []string{l.IP}
	rd.Minority = []string{l.IP}
	if err := r.cfg.Net.Isolate(l.IP, r.cfg.Cluster.ServerIPs()); err != nil {
		return err
	}
	rd.Start = r.w.Since()
	rd.Origin = rd.Start
	// Watch the old leader give up leadership during the cut.
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for wctx.Err() == nil {
			qctx, cancel := context.WithTimeout(wctx, 500*time.Millisecond)
			v, err := l.LeaderView(qctx)
			cancel()
			if err == nil && v != l.IP+":8300" {
				rd.StepDown = r.w.Since() - rd.Start
				return
			}
			select {
			case <-wctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	sleepCtx(ctx, cutFor)
	stop()
	wg.Wait()
	if err := r.cfg.Net.Heal(); err != nil {
		return err
	}
	rd.Heal = r.w.Since()
	return nil
}

// leaderKill kills the leader (-9), waits for the others to elect one and
// take a write, then restarts it on its data dir.
func leaderKill(ctx context.Context, r *Runner, rd *Round) error {
	l, err := r.leader(ctx)
	if err != nil {
		return err
	}
	rd.Victim = l.Name
	rd.Faulted = []string{l.IP}
	rd.Start = r.w.Since()
	rd.Origin = rd.Start
	l.Kill()
	others := without(r.cfg.Cluster.AllIPs(), l.IP)
	if err := r.waitWrites(ctx, others, rd.Start, r.cfg.StableWithin); err != nil {
		rd.Notes = append(rd.Notes, fmt.Sprintf("writes did not resume before the restart: %v", err))
	}
	if err := l.Start(); err != nil {
		return err
	}
	rd.Heal = r.w.Since()
	return nil
}

// leaderStop pauses the leader (SIGSTOP) for 5 s.
func leaderStop(ctx context.Context, r *Runner, rd *Round) error {
	l, err := r.leader(ctx)
	if err != nil {
		return err
	}
	rd.Victim = l.Name
	rd.Faulted = []string{l.IP}
	if err := l.Pause(); err != nil {
		return err
	}
	rd.Start = r.w.Since()
	rd.Origin = rd.Start
	sleepCtx(ctx, stopFor)
	if err := l.Resume(); err != nil {
		return err
	}
	rd.Heal = r.w.Since()
	return nil
}

// allKill kills every server at once (-9), then restarts them all.
func allKill(ctx context.Context, r *Runner, rd *Round) error {
	servers := r.cfg.Cluster.Servers()
	rd.Victim = "all servers"
	rd.Faulted = r.cfg.Cluster.ServerIPs()
	rd.Start = r.w.Since()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func() { defer wg.Done(); s.Kill() }()
	}
	wg.Wait()
	sleepCtx(ctx, time.Second)
	for _, s := range servers {
		if err := s.Start(); err != nil {
			return err
		}
	}
	rd.Heal = r.w.Since()
	// Nothing can recover before the restart: measure from it.
	rd.Origin = rd.Heal
	rd.Faulted = nil
	rd.CompareKV = true
	return nil
}

// split cuts one server off from the other two; the client agent goes to
// either side (seeded).
func split(ctx context.Context, r *Runner, rd *Round) error {
	servers := r.cfg.Cluster.Servers()
	m := servers[r.rng.IntN(len(servers))]
	minority := []string{m.IP}
	var majority []string
	for _, s := range servers {
		if s != m {
			majority = append(majority, s.IP)
		}
	}
	for _, ip := range without(r.cfg.Cluster.AllIPs(), r.cfg.Cluster.ServerIPs()...) {
		if r.rng.IntN(2) == 0 {
			minority = append(minority, ip)
		} else {
			majority = append(majority, ip)
		}
	}
	rd.Victim = fmt.Sprintf("%v | %v", minority, majority)
	rd.Faulted = minority
	rd.Minority = minority
	if err := r.cfg.Net.Partition(minority, majority); err != nil {
		return err
	}
	rd.Start = r.w.Since()
	rd.Origin = rd.Start
	sleepCtx(ctx, splitFor)
	if err := r.cfg.Net.Heal(); err != nil {
		return err
	}
	rd.Heal = r.w.Since()
	return nil
}

// followerCut cuts one follower off from every other agent for 6 s.
func followerCut(ctx context.Context, r *Runner, rd *Round) error {
	l, err := r.leader(ctx)
	if err != nil {
		return err
	}
	var followers []*cluster.Agent
	for _, s := range r.cfg.Cluster.Servers() {
		if s != l {
			followers = append(followers, s)
		}
	}
	f := followers[r.rng.IntN(len(followers))]
	rd.Victim = f.Name
	rd.Faulted = []string{f.IP}
	rd.Minority = []string{f.IP}
	if err := r.cfg.Net.Isolate(f.IP, r.cfg.Cluster.AllIPs()); err != nil {
		return err
	}
	rd.Start = r.w.Since()
	rd.Origin = rd.Start
	sleepCtx(ctx, cutFor)
	if err := r.cfg.Net.Heal(); err != nil {
		return err
	}
	rd.Heal = r.w.Since()
	return nil
}

func without(all []string, drop ...string) []string {
	var out []string
	for _, a := range all {
		if !slices.Contains(drop, a) {
			out = append(out, a)
		}
	}
	return out
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
