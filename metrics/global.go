package metrics

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
)

// global is the sink go-metrics' process-wide instance writes to. It is
// the one package-level variable here, and it exists because go-metrics'
// global (which raft and memberlist emit into) is one per process: the
// fanout lets each agent attach and detach its own sinks.
var global = &fanout{}

// installed is the go-metrics global this package made; legacyOnce
// guards armon's.
var (
	installMu  sync.Mutex
	installed  *gometrics.Metrics
	legacyOnce sync.Once
)

// install makes go-metrics' global instance write to the fanout, with no
// prefix, hostname or filter of its own: each agent's Metrics adds those.
// It points the global back at the fanout when something else in the
// process (an embedding program, a test) replaced it since.
func install() {
	installMu.Lock()
	defer installMu.Unlock()
	if installed == nil || gometrics.Default() != installed {
		conf := &gometrics.Config{
			TimerGranularity: time.Millisecond,
			ProfileInterval:  time.Second,
			FilterDefault:    true,
		}
		// New never fails; its error result is for future use.
		installed, _ = gometrics.NewGlobal(conf, global)
	}
	legacyOnce.Do(installLegacy)
}

// fanout forwards every metric to each attached agent's Metrics, which
// prefixes, filters and sends it to that agent's sinks.
type fanout struct {
	// mu serialises attach and detach; readers load agents without it.
	mu     sync.Mutex
	agents atomic.Pointer[[]*gometrics.Metrics]
}

var (
	_ gometrics.MetricSink               = (*fanout)(nil)
	_ gometrics.PrecisionGaugeMetricSink = (*fanout)(nil)
)

func (f *fanout) attach(m *gometrics.Metrics) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var cur []*gometrics.Metrics
	if p := f.agents.Load(); p != nil {
		cur = *p
	}
	next := append(slices.Clone(cur), m)
	f.agents.Store(&next)
}

func (f *fanout) detach(m *gometrics.Metrics) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.agents.Load()
	if p == nil {
		return
	}
	next := slices.DeleteFunc(slices.Clone(*p), func(x *gometrics.Metrics) bool { return x == m })
	f.agents.Store(&next)
}

func (f *fanout) each(fn func(m *gometrics.Metrics)) {
	p := f.agents.Load()
	if p == nil {
		return
	}
	for _, m := range *p {
		fn(m)
	}
}

func (f *fanout) SetGauge(key []string, val float32) { f.SetGaugeWithLabels(key, val, nil) }

func (f *fanout) SetGaugeWithLabels(key []string, val float32, labels []gometrics.Label) {
	f.each(func(m *gometrics.Metrics) { m.SetGaugeWithLabels(key, val, labels) })
}

func (f *fanout) SetPrecisionGauge(key []string, val float64) {
	f.SetPrecisionGaugeWithLabels(key, val, nil)
}

func (f *fanout) SetPrecisionGaugeWithLabels(key []string, val float64, labels []gometrics.Label) {
	f.each(func(m *gometrics.Metrics) { m.SetPrecisionGaugeWithLabels(key, val, labels) })
}

func (f *fanout) EmitKey(key []string, val float32) {
	f.each(func(m *gometrics.Metrics) { m.EmitKey(key, val) })
}

func (f *fanout) IncrCounter(key []string, val float32) { f.IncrCounterWithLabels(key, val, nil) }

func (f *fanout) IncrCounterWithLabels(key []string, val float32, labels []gometrics.Label) {
	f.each(func(m *gometrics.Metrics) { m.IncrCounterWithLabels(key, val, labels) })
}

func (f *fanout) AddSample(key []string, val float32) { f.AddSampleWithLabels(key, val, nil) }

func (f *fanout) AddSampleWithLabels(key []string, val float32, labels []gometrics.Label) {
	f.each(func(m *gometrics.Metrics) { m.AddSampleWithLabels(key, val, labels) })
}
