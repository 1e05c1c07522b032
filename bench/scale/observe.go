package main

import (
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gometrics "github.com/hashicorp/go-metrics"

	"consulate/gossip"
	"consulate/structs"
)

// watcher records what one member learns about the others, from its
// pool's Observer (called on memberlist's goroutines, so it only takes a
// short lock).
type watcher struct {
	mu       sync.Mutex
	alive    map[string]bool
	joinedAt map[string]time.Time // last time each member became alive here
	failures []failure            // every failure event, in order
	nAlive   atomic.Int64
}

// failure is one member-failed event seen by a member.
type failure struct {
	Member string
	At     time.Time
}

func newWatcher() *watcher {
	return &watcher{alive: map[string]bool{}, joinedAt: map[string]time.Time{}}
}

func (w *watcher) observe(e gossip.Event) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range e.Members {
		switch e.Type {
		case gossip.MemberJoin:
			if !w.alive[m.Name] {
				w.alive[m.Name] = true
				w.nAlive.Add(1)
				w.joinedAt[m.Name] = now
			}
		case gossip.MemberFailed, gossip.MemberLeave, gossip.MemberReap:
			if w.alive[m.Name] {
				w.alive[m.Name] = false
				w.nAlive.Add(-1)
			}
			if e.Type == gossip.MemberFailed {
				w.failures = append(w.failures, failure{m.Name, now})
			}
		case gossip.MemberUpdate:
			if m.Status == structs.StatusAlive && !w.alive[m.Name] {
				w.alive[m.Name] = true
				w.nAlive.Add(1)
				w.joinedAt[m.Name] = now
			}
		}
	}
}

// joined says when name last became alive here.
func (w *watcher) joined(name string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.joinedAt[name]
	return t, ok && w.alive[name]
}

// failedSince says when name was first seen failed here at or after t.
func (w *watcher) failedSince(name string, t time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range w.failures {
		if f.Member == name && !f.At.Before(t) {
			return f.At, true
		}
	}
	return time.Time{}, false
}

// failuresSince lists the failure events seen at or after t.
func (w *watcher) failuresSince(t time.Time) []failure {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []failure
	for _, f := range w.failures {
		if !f.At.Before(t) {
			out = append(out, f)
		}
	}
	return out
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// raiseNoFile lifts the soft open-files limit to the hard one (each member
// holds a UDP socket, a TCP listener and its streams) and returns both.
func raiseNoFile() (soft, hard uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	return rl.Cur, rl.Max
}

// suspectSink counts memberlist's suspicion and death counters, which it
// emits into go-metrics' process-wide instance: memberlist.msg.suspect
// counts a member turning another from alive to suspect (every member
// that does so counts once); memberlist.msg.dead the same for dead.
type suspectSink struct {
	suspect, dead atomic.Uint64
}

var _ gometrics.MetricSink = (*suspectSink)(nil)

// installSink points go-metrics' global at a fresh suspectSink. The bench
// is the only user of go-metrics in its process.
func installSink() *suspectSink {
	s := &suspectSink{}
	conf := gometrics.DefaultConfig("")
	conf.EnableHostname = false
	conf.EnableRuntimeMetrics = false
	conf.EnableServiceLabel = false
	_, _ = gometrics.NewGlobal(conf, s)
	return s
}

func (s *suspectSink) count(key []string) {
	switch strings.Join(key, ".") {
	case "memberlist.msg.suspect":
		s.suspect.Add(1)
	case "memberlist.msg.dead":
		s.dead.Add(1)
	}
}

func (s *suspectSink) SetGauge([]string, float32)                              {}
func (s *suspectSink) SetGaugeWithLabels([]string, float32, []gometrics.Label) {}
func (s *suspectSink) EmitKey([]string, float32)                               {}
func (s *suspectSink) IncrCounter(key []string, _ float32)                     { s.count(key) }
func (s *suspectSink) IncrCounterWithLabels(key []string, _ float32, _ []gometrics.Label) {
	s.count(key)
}
func (s *suspectSink) AddSample([]string, float32)                              {}
func (s *suspectSink) AddSampleWithLabels([]string, float32, []gometrics.Label) {}
