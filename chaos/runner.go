package chaos

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/hashicorp/consul/api"

	"consulate/chaos/cluster"
	"consulate/chaos/netfault"
)

// Config is what a Runner drives.
type Config struct {
	Cluster *cluster.Cluster
	Net     *netfault.Net
	// Seed makes the workload and the choice of victims reproducible
	// (the timing of a real cluster is not).
	Seed uint64
	// StableWithin bounds each wait for the cluster to settle (default 30 s).
	StableWithin time.Duration
	// CheckTimeout bounds the linearizability check of one round (default 60 s).
	CheckTimeout time.Duration
	// Dir receives a porcupine visualization of any round that fails the check.
	Dir string
	// Logf reports progress (may be nil).
	Logf func(format string, args ...any)
	// Faults are those Pick chooses from (default: all of Faults()).
	Faults []Fault
}

// Runner runs faults against a cluster under the workload.
type Runner struct {
	cfg Config
	w   *Workload
	p   *Prober
	rng *rand.Rand
	n   int
}

// NewRunner starts the workload on every agent of the cluster.
func NewRunner(cfg Config) (*Runner, error) {
	if cfg.Cluster == nil || cfg.Net == nil {
		return nil, errors.New("chaos: Cluster and Net are required")
	}
	if cfg.StableWithin <= 0 {
		cfg.StableWithin = 30 * time.Second
	}
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = 60 * time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	w, err := NewWorkload(WorkloadConfig{Agents: cfg.Cluster.AllIPs(), Seed: cfg.Seed})
	if err != nil {
		return nil, err
	}
	p, err := NewProber(cfg.Cluster.AllIPs(), w.Since)
	if err != nil {
		return nil, err
	}
	w.Start()
	p.Start()
	return &Runner{cfg: cfg, w: w, p: p, rng: rand.New(rand.NewPCG(cfg.Seed, 0x6368616f73))}, nil
}

// Close stops the workload and the probes.
func (r *Runner) Close() {
	r.w.Stop()
	r.p.Stop()
}

// Pick returns a fault chosen with the runner's seeded generator.
func (r *Runner) Pick() Fault {
	fs := r.cfg.Faults
	if len(fs) == 0 {
		fs = Faults()
	}
	return fs[r.rng.IntN(len(fs))]
}

// Round is one fault and what was seen around it. Times are on the
// workload's clock.
type Round struct {
	N      int
	Fault  string
	Victim string
	Keys   []string

	Start  time.Duration // the fault began
	Heal   time.Duration // the fault ended (cut healed, process resumed or restarted)
	Origin time.Duration // recovery is measured from here (Start, or Heal when nothing can recover before it)
	// Faulted are the agents down or cut off during the fault: writes
	// through the others are expected to resume.
	Faulted []string
	// Minority are agents that must answer nothing between Start and Heal.
	Minority []string
	// CompareKV: check that every server holds the same KV afterwards.
	CompareKV bool

	// StepDown is how long the cut-off leader took to give up leadership
	// (leader-cut only; 0 if it never did during the cut).
	StepDown time.Duration
	// RecoveryFirst is Origin to the first answered write (called after
	// Origin) through an agent not faulted.
	RecoveryFirst time.Duration
	// RecoveryAll is Origin to the moment every agent not faulted had
	// answered such a write.
	RecoveryAll time.Duration
	// HealAll is Heal to the moment every agent had answered a write
	// called after Heal.
	HealAll time.Duration
	// Slowest and SlowestHeal name the agents that set RecoveryAll and HealAll.
	Slowest, SlowestHeal string

	Ops, Unknown, FailedReads int
	Linearizable              porcupine.CheckResult
	// Violations are broken promises: a minority that answered, a
	// non-linearizable history, servers that disagree.
	Violations []string
	Notes      []string
}

// String is the round's one-line summary.
func (rd *Round) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "round %d %-12s victim=%s recovery first=%s all=%s (%s) heal→all=%s (%s)", rd.N, rd.Fault, rd.Victim,
		ms(rd.RecoveryFirst), ms(rd.RecoveryAll), rd.Slowest, ms(rd.HealAll), rd.SlowestHeal)
	if rd.Fault == "leader-cut" {
		fmt.Fprintf(&b, " stepdown=%s", ms(rd.StepDown))
	}
	fmt.Fprintf(&b, " ops=%d unknown=%d failed-reads=%d linearizable=%s", rd.Ops, rd.Unknown, rd.FailedReads, rd.Linearizable)
	for _, v := range rd.Violations {
		fmt.Fprintf(&b, "\n  VIOLATION: %s", v)
	}
	for _, n := range rd.Notes {
		fmt.Fprintf(&b, "\n  note: %s", n)
	}
	return b.String()
}

func ms(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// minorityGrace is how long after a cut began an answer through the cut
// side is still accepted: the leader lease (250 ms, agent/start.go), doubled for a loaded machine.
const minorityGrace = 500 * time.Millisecond

// RunRound runs one fault under the workload on keys of its own and
// checks what happened. An error means the round could not be run (the
// cluster never settled); broken promises are in Violations.
func (r *Runner) RunRound(ctx context.Context, f Fault) (*Round, error) {
	r.n++
	rd := &Round{N: r.n, Fault: f.Name}
	prefix := fmt.Sprintf("chaos/r%03d-%s/", rd.N, f.Name)
	for i := range 3 {
		rd.Keys = append(rd.Keys, fmt.Sprintf("%sk%d", prefix, i))
	}
	r.w.SetKeys(rd.Keys)
	if err := r.settle(ctx, r.w.Since()); err != nil {
		return rd, fmt.Errorf("before %s: %w", f.Name, err)
	}
	sleepCtx(ctx, time.Second)
	r.cfg.Logf("round %d: %s", rd.N, f.Name)
	if err := f.Inject(ctx, r, rd); err != nil {
		r.cfg.Net.Heal()
		for _, a := range r.cfg.Cluster.Agents() {
			if !a.Running() {
				a.Start()
			}
		}
		return rd, fmt.Errorf("%s: %w", f.Name, err)
	}
	if err := r.settle(ctx, rd.Heal); err != nil {
		rd.Violations = append(rd.Violations, fmt.Sprintf("after the heal: %v", err))
	}
	sleepCtx(ctx, time.Second)
	r.w.SetKeys(nil)
	idle := time.Now().Add(2*r.w.cfg.OpTimeout + time.Second)
	for !r.w.Idle() && time.Now().Before(idle) {
		sleepCtx(ctx, 20*time.Millisecond)
	}
	r.finalReads(ctx, rd)
	if err := r.compareKV(ctx, prefix); err != nil {
		rd.Violations = append(rd.Violations, err.Error())
	}
	r.judge(rd, prefix)
	return rd, nil
}

// settle waits for every server to name the same leader and for a write
// through every agent called after since to answer.
func (r *Runner) settle(ctx context.Context, since time.Duration) error {
	c, cancel := context.WithTimeout(ctx, r.cfg.StableWithin)
	defer cancel()
	if _, err := r.cfg.Cluster.WaitLeader(c, true); err != nil {
		return err
	}
	return r.waitWrites(c, r.cfg.Cluster.AllIPs(), since, r.cfg.StableWithin)
}

// waitWrites waits until a write through each of agents, called at or
// after since, has answered.
func (r *Runner) waitWrites(ctx context.Context, agents []string, since, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		var missing []string
		for _, ip := range agents {
			if _, ok := r.p.FirstOK(ip, since); !ok {
				missing = append(missing, ip)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("no write answered through %v within %s", missing, within)
		}
		sleepCtx(ctx, 50*time.Millisecond)
	}
}

// finalReads reads every key of the round once more through the leader,
// so that the check sees whether each acknowledged write survived.
func (r *Runner) finalReads(ctx context.Context, rd *Round) {
	c, cancel := context.WithTimeout(ctx, r.cfg.StableWithin)
	defer cancel()
	l, err := r.cfg.Cluster.WaitLeader(c, false)
	if err != nil {
		rd.Violations = append(rd.Violations, fmt.Sprintf("final reads: %v", err))
		return
	}
	kv, err := NewKVClient(l.IP)
	if err != nil {
		rd.Violations = append(rd.Violations, err.Error())
		return
	}
	for _, key := range rd.Keys {
		rec := Record{Client: r.w.cfg.Clients, Agent: l.IP, Input: Input{Kind: OpGet, Key: key}, Call: r.w.Since()}
		octx, ocancel := context.WithTimeout(c, 5*time.Second)
		pair, _, err := kv.Get(key, (&api.QueryOptions{RequireConsistent: true}).WithContext(octx))
		ocancel()
		rec.Return = r.w.Since()
		if err != nil {
			rd.Violations = append(rd.Violations, fmt.Sprintf("final read of %s: %v", key, err))
			continue
		}
		if pair != nil {
			rec.Output = Output{Found: true, Value: string(pair.Value)}
		}
		r.w.Record(rec)
	}
}

// compareKV waits (bounded) for every server's own copy of the prefix
// (a stale read answers from the server's local store) to be the same.
func (r *Runner) compareKV(ctx context.Context, prefix string) error {
	deadline := time.Now().Add(10 * time.Second)
	var last string
	for {
		var views []string
		for _, s := range r.cfg.Cluster.Servers() {
			views = append(views, r.dumpKV(ctx, s.IP, prefix))
		}
		same := true
		for _, v := range views[1:] {
			if v != views[0] {
				same = false
			}
		}
		if same && !strings.HasPrefix(views[0], "error") {
			return nil
		}
		last = strings.Join(views, " | ")
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("servers hold different KV under %s after 10 s: %s", prefix, last)
		}
		sleepCtx(ctx, 200*time.Millisecond)
	}
}

func (r *Runner) dumpKV(ctx context.Context, ip, prefix string) string {
	kv, err := NewKVClient(ip)
	if err != nil {
		return "error: " + err.Error()
	}
	c, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	pairs, _, err := kv.List(prefix, (&api.QueryOptions{AllowStale: true}).WithContext(c))
	if err != nil {
		return "error: " + err.Error()
	}
	var b bytes.Buffer
	for _, p := range pairs {
		fmt.Fprintf(&b, "%s=%s@%d ", strings.TrimPrefix(p.Key, prefix), p.Value, p.ModifyIndex)
	}
	return b.String()
}

// judge computes the round's figures from the history and checks it.
func (r *Runner) judge(rd *Round, prefix string) {
	var recs []Record
	for _, rec := range r.w.History() {
		if strings.HasPrefix(rec.Input.Key, prefix) {
			recs = append(recs, rec)
		}
	}
	for _, rec := range recs {
		switch {
		case rec.Output.Unknown:
			rd.Unknown++
		case rec.Err != nil:
			rd.FailedReads++
		}
	}
	ops := Operations(recs)
	rd.Ops = len(ops)

	// Recovery, from the probes: first answered writes called after
	// Origin (and after Heal).
	rd.RecoveryFirst, rd.RecoveryAll = -1, 0
	for _, ip := range r.cfg.Cluster.AllIPs() {
		if slices.Contains(rd.Faulted, ip) {
			continue
		}
		t, ok := r.p.FirstOK(ip, rd.Origin)
		if !ok {
			rd.RecoveryAll, rd.Slowest = -1, ip
			continue
		}
		d := t - rd.Origin
		if rd.RecoveryFirst < 0 || d < rd.RecoveryFirst {
			rd.RecoveryFirst = d
		}
		if rd.RecoveryAll >= 0 && d > rd.RecoveryAll {
			rd.RecoveryAll, rd.Slowest = d, ip
		}
	}
	rd.HealAll = 0
	for _, ip := range r.cfg.Cluster.AllIPs() {
		t, ok := r.p.FirstOK(ip, rd.Heal)
		if !ok {
			rd.HealAll, rd.SlowestHeal = -1, ip
			break
		}
		if d := t - rd.Heal; d > rd.HealAll {
			rd.HealAll, rd.SlowestHeal = d, ip
		}
	}

	// A minority must not answer: no write can commit and no consistent
	// read may be served without the majority, once the leader's lease
	// has run out (an answer already on its way when the cut began may
	// still arrive within it: raft counts a follower's reply to a
	// heartbeat sent before a read as confirming that read).
	answered, withinLease := 0, 0
	for _, rec := range recs {
		if rec.Err == nil && slices.Contains(rd.Minority, rec.Agent) && rec.Call >= rd.Start && rec.Return <= rd.Start+minorityGrace {
			withinLease++
		}
		if rec.Err == nil && slices.Contains(rd.Minority, rec.Agent) && rec.Call >= rd.Start &&
			rec.Return > rd.Start+minorityGrace && rec.Return <= rd.Heal {
			answered++
			if answered <= 5 {
				rd.Violations = append(rd.Violations, fmt.Sprintf("%s through cut-off %s answered during the cut: %s called %s after the cut began, answered %s after",
					rec.Input.Kind, rec.Agent, Model().DescribeOperation(rec.Input, rec.Output), ms(rec.Call-rd.Start), ms(rec.Return-rd.Start)))
			}
		}
	}

	if withinLease > 0 {
		rd.Notes = append(rd.Notes, fmt.Sprintf("%d operations called after the cut answered through the cut-off side within the %s lease", withinLease, minorityGrace))
	}
	if answered > 5 {
		rd.Violations = append(rd.Violations, fmt.Sprintf("%d operations in all answered through the minority", answered))
	}

	res, info := porcupine.CheckOperationsVerbose(Model(), ops, r.cfg.CheckTimeout)
	rd.Linearizable = res
	if len(rd.Violations) > 0 && r.cfg.Dir != "" {
		path := filepath.Join(r.cfg.Dir, fmt.Sprintf("round%03d-%s.txt", rd.N, rd.Fault))
		if err := os.WriteFile(path, []byte(r.dump(rd, recs)), 0o644); err == nil {
			rd.Notes = append(rd.Notes, "records: "+path)
		}
	}
	if res != porcupine.Ok {
		rd.Violations = append(rd.Violations, fmt.Sprintf("history of %d operations is %s", len(ops), res))
		if r.cfg.Dir != "" {
			path := filepath.Join(r.cfg.Dir, fmt.Sprintf("round%03d-%s.txt", rd.N, rd.Fault))
			if err := os.WriteFile(path, []byte(r.dump(rd, recs)), 0o644); err == nil {
				rd.Notes = append(rd.Notes, "records: "+path)
			}
			path = filepath.Join(r.cfg.Dir, fmt.Sprintf("round%03d-%s.html", rd.N, rd.Fault))
			if err := porcupine.VisualizePath(Model(), info, path); err == nil {
				rd.Notes = append(rd.Notes, "visualization: "+path)
			}
		}
	}
}

// dump lists a round's records with their agents and wall-clock times,
// for reading a failed check beside the agents' logs.
func (r *Runner) dump(rd *Round, recs []Record) string {
	var b strings.Builder
	wall := func(d time.Duration) string {
		if d == math.MaxInt64 {
			return "never"
		}
		return r.w.start.Add(d).UTC().Format("15:04:05.000")
	}
	fmt.Fprintf(&b, "round %d %s victim=%s start=%s heal=%s\n", rd.N, rd.Fault, rd.Victim, wall(rd.Start), wall(rd.Heal))
	sorted := slices.Clone(recs)
	slices.SortFunc(sorted, func(a, b Record) int { return cmp.Compare(a.Call, b.Call) })
	for _, rec := range sorted {
		ret := rec.Return
		if rec.Output.Unknown {
			ret = math.MaxInt64
		}
		fmt.Fprintf(&b, "%s %s client=%d agent=%s %s %s", wall(rec.Call), wall(ret), rec.Client, rec.Agent,
			rec.Input.Key, Model().DescribeOperation(rec.Input, rec.Output))
		if rec.Err != nil {
			fmt.Fprintf(&b, " err=%v", rec.Err)
		}
		b.WriteString("\n")
	}
	return b.String()
}
