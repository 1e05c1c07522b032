package metrics

import (
	"time"

	armon "github.com/armon/go-metrics"
	gometrics "github.com/hashicorp/go-metrics"
)

// installLegacy points armon/go-metrics' global (go-metrics' old home,
// which raft-boltdb still emits consul.raft.boltdb.* into) at the same
// fanout, so those metrics reach the agents' sinks as in Consul.
func installLegacy() {
	conf := &armon.Config{
		TimerGranularity: time.Millisecond,
		ProfileInterval:  time.Second,
		FilterDefault:    true,
	}
	_, _ = armon.NewGlobal(conf, legacySink{global})
}

// legacySink adapts armon's sink interface (its own Label type) to the
// fanout.
type legacySink struct{ f *fanout }

var _ armon.MetricSink = legacySink{}

func labelsOf(ls []armon.Label) []gometrics.Label {
	if ls == nil {
		return nil
	}
	out := make([]gometrics.Label, len(ls))
	for i, l := range ls {
		out[i] = gometrics.Label{Name: l.Name, Value: l.Value}
	}
	return out
}

func (s legacySink) SetGauge(key []string, val float32) { s.f.SetGaugeWithLabels(key, val, nil) }

func (s legacySink) SetGaugeWithLabels(key []string, val float32, labels []armon.Label) {
	s.f.SetGaugeWithLabels(key, val, labelsOf(labels))
}

func (s legacySink) EmitKey(key []string, val float32) { s.f.EmitKey(key, val) }

func (s legacySink) IncrCounter(key []string, val float32) {
	s.f.IncrCounterWithLabels(key, val, nil)
}

func (s legacySink) IncrCounterWithLabels(key []string, val float32, labels []armon.Label) {
	s.f.IncrCounterWithLabels(key, val, labelsOf(labels))
}

func (s legacySink) AddSample(key []string, val float32) { s.f.AddSampleWithLabels(key, val, nil) }

func (s legacySink) AddSampleWithLabels(key []string, val float32, labels []armon.Label) {
	s.f.AddSampleWithLabels(key, val, labelsOf(labels))
}
