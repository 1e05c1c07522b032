package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync/atomic"
	"time"

	"consulate/gossip"
	"consulate/lan"
)

// lanOpts configures a LAN run.
type lanOpts struct {
	N            int
	Seeds        int
	Kill         int
	Base         net.IP
	Port         int
	Steady       time.Duration
	PhaseTimeout time.Duration
	Tuning       gossip.Tuning
	// JoinBatch, when positive, joins the members JoinBatch at a time,
	// each batch once every member joined so far sees all of them alive
	// (a pool that grows, instead of N joining at once); 0 = all at once.
	JoinBatch int
	// Soak, when positive, replaces the join and failure phases after
	// convergence by a soak of that length with Loss.
	Soak time.Duration
	Loss float64
	Log  func(format string, args ...any)
}

// lanResult is what a LAN run measured.
type lanResult struct {
	Members             int           `json:"members"`
	StartTime           time.Duration `json:"start_ns"`
	JoinPhase           time.Duration `json:"join_phase_ns"`
	ConvergeAfterJoins  time.Duration `json:"converge_after_last_join_ns"`
	ConvergeFromFirst   time.Duration `json:"converge_from_first_join_ns"`
	Steady              window        `json:"steady"`
	NewMemberKnownAll   time.Duration `json:"new_member_known_by_all_ns"`
	Killed              int           `json:"killed"`
	DetectFirstMedian   time.Duration `json:"detect_first_median_ns"`
	DetectAllMedian     time.Duration `json:"detect_all_median_ns"`
	DetectAllMax        time.Duration `json:"detect_all_max_ns"`
	FalseFailures       int           `json:"false_failures"`
	Suspicions          uint64        `json:"suspicions"`
	SoakSeconds         float64       `json:"soak_seconds,omitempty"`
	Loss                float64       `json:"loss,omitempty"`
	DroppedPackets      uint64        `json:"dropped_packets,omitempty"`
	FalseFailureMembers []string      `json:"false_failure_members,omitempty"`
	// Timers are the failure-detection timers every member's memberlist
	// runs with.
	Timers timers `json:"timers"`
}

type lanRun struct {
	opts lanOpts
	loss atomicFloat
	ms   []*member
}

// lanConfig is member i's pool configuration before the bench wires its
// addresses and transport: lan.DefaultConfig with o.Tuning applied, as
// agent/gossip.go startLAN builds it.
func lanConfig(o lanOpts, i int) *lan.Config {
	lc := lan.DefaultConfig()
	lc.Gossip.NodeName = fmt.Sprintf("node%04d", i)
	o.Tuning.Apply(lc.Gossip.Memberlist)
	lc.Datacenter = "dc1"
	lc.NodeID = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	return lc
}

func (r *lanRun) start(i int) (*member, error) {
	o := r.opts
	lc := lanConfig(o, i)
	g := lc.Gossip
	m := &member{name: g.NodeName}
	m.wire(g, memberAddr(o.Base, i), o.Port, &r.loss)
	p, err := lan.New(lc)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", m.name, err)
	}
	m.pool = p.Pool
	m.drain(nil)
	return m, nil
}

func runLAN(ctx context.Context, o lanOpts, sink *suspectSink) (res lanResult, err error) {
	r := &lanRun{opts: o, ms: make([]*member, o.N)}
	defer func() { shutdownAll(r.ms) }()
	res.Members = o.N
	res.Timers = timersOf(lanConfig(o, 0).Gossip.Memberlist, o.N)
	o.Log("LAN: timers: %s", res.Timers)
	seeds := min(o.Seeds, o.N)

	t0 := time.Now()
	if err := parallel(o.N, 16, func(i int) error {
		m, err := r.start(i)
		r.ms[i] = m
		return err
	}); err != nil {
		return res, err
	}
	res.StartTime = time.Since(t0)
	o.Log("LAN: %d members started in %s", o.N, res.StartTime.Round(time.Millisecond))

	seedAddrs := make([]string, seeds)
	for i := range seeds {
		seedAddrs[i] = r.ms[i].addr
	}
	joinStart := time.Now()
	for i := 1; i < seeds; i++ {
		if _, err := r.ms[i].pool.Join(seedAddrs[:1], true); err != nil {
			return res, fmt.Errorf("seed %d join: %w", i, err)
		}
	}
	var joined atomic.Int64
	stopProgress := progress(ctx, 5*time.Second, func() {
		o.Log("LAN: %d of %d joins done; %s", joined.Load(), o.N-seeds, aliveSummary(r.ms, o.N))
	})
	// The join phase is bounded like every wait; a Join in flight is
	// bounded by memberlist's TCP timeout.
	joinCtx, cancelJoins := context.WithTimeout(ctx, o.PhaseTimeout)
	defer cancelJoins()
	batch := o.N - seeds
	if o.JoinBatch > 0 {
		batch = o.JoinBatch
	}
	for from := seeds; from < o.N && err == nil; from += batch {
		upto := min(from+batch, o.N)
		if from > seeds {
			// The previous batch first: every member so far sees all alive.
			_, err = waitUntil(joinCtx, o.PhaseTimeout, 20*time.Millisecond, "join batch", func() bool {
				return allSeeAlive(r.ms[:from], int64(from))
			})
			if err != nil {
				err = fmt.Errorf("join phase: %w after %d joins (%s)", err, joined.Load(), aliveSummary(r.ms[:from], from))
				break
			}
		}
		err = parallel(upto-from, 32, func(j int) error {
			if err := joinCtx.Err(); err != nil {
				return fmt.Errorf("join phase: %w after %d joins (%s)", err, joined.Load(), aliveSummary(r.ms, o.N))
			}
			m := r.ms[from+j]
			if _, err := m.pool.Join(seedAddrs, true); err != nil {
				return fmt.Errorf("%s join: %w", m.name, err)
			}
			joined.Add(1)
			return nil
		})
	}
	stopProgress()
	if err != nil {
		return res, err
	}
	joinEnd := time.Now()
	res.JoinPhase = joinEnd.Sub(joinStart)
	stopProgress = progress(ctx, 5*time.Second, func() { o.Log("LAN: converging: %s", aliveSummary(r.ms, o.N)) })
	conv, err := waitUntil(ctx, o.PhaseTimeout, 20*time.Millisecond, "LAN convergence", func() bool {
		return allSeeAlive(r.ms, int64(o.N))
	})
	stopProgress()
	if err != nil {
		return res, fmt.Errorf("%w (%s)", err, aliveSummary(r.ms, o.N))
	}
	res.ConvergeAfterJoins = conv.Sub(joinEnd)
	res.ConvergeFromFirst = conv.Sub(joinStart)
	o.Log("LAN: joins took %s; every member saw %d alive %s after the last join",
		res.JoinPhase.Round(time.Millisecond), o.N, res.ConvergeAfterJoins.Round(time.Millisecond))

	if o.Soak > 0 {
		return r.soak(ctx, res, sink)
	}

	res.Steady = measureWindow(ctx, r.ms, o.Steady)
	o.Log("LAN: steady %.0fs: %.0f B/s per member, %.3f ms CPU/s per member",
		res.Steady.Seconds, res.Steady.BytesPerSecMean, res.Steady.CPUPerMemberMillis)

	// One more member joins the converged pool through the seeds.
	nm, err := r.start(o.N)
	if err != nil {
		return res, err
	}
	r.ms = append(r.ms, nm)
	js := time.Now()
	if _, err := nm.pool.Join(seedAddrs, true); err != nil {
		return res, fmt.Errorf("new member join: %w", err)
	}
	if _, err := waitUntil(ctx, o.PhaseTimeout, 20*time.Millisecond, "new member known", func() bool {
		return allSeeAlive(r.ms, int64(o.N+1))
	}); err != nil {
		return res, err
	}
	var last time.Time
	for _, m := range r.ms {
		t, _ := m.w.joined(nm.name)
		if t.After(last) {
			last = t
		}
	}
	res.NewMemberKnownAll = last.Sub(js)
	o.Log("LAN: a new member was alive at all %d members %s after its join began", o.N+1, res.NewMemberKnownAll.Round(time.Millisecond))

	// Failure detection: K members (never a seed, never the new one) go dark.
	suspects0 := sink.suspect.Load()
	fails0 := time.Now()
	victims := pickVictims(r.ms[seeds:o.N], o.Kill)
	killAt := time.Now()
	for _, v := range victims {
		v.kill()
	}
	res.Killed = len(victims)
	survivors := slices.DeleteFunc(slices.Clone(r.ms), func(m *member) bool { return m.dead })
	if _, err := waitUntil(ctx, o.PhaseTimeout, 20*time.Millisecond, "failure detection", func() bool {
		for _, s := range survivors {
			for _, v := range victims {
				if _, ok := s.w.failedSince(v.name, killAt); !ok {
					return false
				}
			}
		}
		return true
	}); err != nil {
		return res, err
	}
	var firsts, alls []time.Duration
	for _, v := range victims {
		first, all := time.Duration(1<<62), time.Duration(0)
		for _, s := range survivors {
			t, _ := s.w.failedSince(v.name, killAt)
			d := t.Sub(killAt)
			first, all = min(first, d), max(all, d)
		}
		firsts, alls = append(firsts, first), append(alls, all)
	}
	res.DetectFirstMedian = median(firsts)
	res.DetectAllMedian = median(alls)
	res.DetectAllMax = slices.Max(alls)
	res.Suspicions = sink.suspect.Load() - suspects0
	res.FalseFailures, res.FalseFailureMembers = falseFailures(survivors, victims, fails0)
	o.Log("LAN: %d killed: seen failed by every survivor after median %s, max %s; false failures %d",
		len(victims), res.DetectAllMedian.Round(time.Millisecond), res.DetectAllMax.Round(time.Millisecond), res.FalseFailures)
	return res, nil
}

// soak turns loss on and counts failures and suspicions of members that
// were never killed.
func (r *lanRun) soak(ctx context.Context, res lanResult, sink *suspectSink) (lanResult, error) {
	o := r.opts
	var dropped0 uint64
	for _, m := range r.ms {
		dropped0 += m.stats.dropped.Load()
	}
	suspects0 := sink.suspect.Load()
	r.loss.Store(o.Loss)
	start := time.Now()
	o.Log("LAN soak: %d members, %.2f%% loss, %s", o.N, 100*o.Loss, o.Soak)
	res.Steady = measureWindow(ctx, r.ms, o.Soak)
	r.loss.Store(0)
	res.SoakSeconds = time.Since(start).Seconds()
	res.Loss = o.Loss
	res.Suspicions = sink.suspect.Load() - suspects0
	for _, m := range r.ms {
		res.DroppedPackets += m.stats.dropped.Load()
	}
	res.DroppedPackets -= dropped0
	res.FalseFailures, res.FalseFailureMembers = falseFailures(r.ms, nil, start)
	return res, nil
}

func allSeeAlive(ms []*member, n int64) bool {
	for _, m := range ms {
		if !m.dead && m.w.nAlive.Load() != n {
			return false
		}
	}
	return true
}

func aliveSummary(ms []*member, n int) string {
	behind, least := 0, int64(n)
	for _, m := range ms {
		if a := m.w.nAlive.Load(); a != int64(n) {
			behind++
			least = min(least, a)
		}
	}
	return fmt.Sprintf("%d of %d members see fewer than %d alive, the least %d", behind, len(ms), n, least)
}

func pickVictims(from []*member, k int) []*member {
	idx := rand.Perm(len(from))
	var out []*member
	for _, i := range idx[:min(k, len(from))] {
		out = append(out, from[i])
	}
	return out
}

// falseFailures counts failure events since t, seen by observers, of
// members that are not among killed.
func falseFailures(observers, killed []*member, t time.Time) (int, []string) {
	dead := map[string]bool{}
	for _, k := range killed {
		dead[k.name] = true
	}
	n, names := 0, map[string]bool{}
	for _, o := range observers {
		for _, f := range o.w.failuresSince(t) {
			if !dead[f.Member] {
				n++
				names[f.Member] = true
			}
		}
	}
	var out []string
	for name := range names {
		out = append(out, name)
	}
	slices.Sort(out)
	return n, out
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
