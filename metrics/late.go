package metrics

import (
	"errors"
	"net"
	"sync/atomic"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
)

// lateSink stands in for a sink that could not be made at start (its
// address did not resolve yet) until retryLate makes it: metrics before
// then are dropped, as in Consul.
type lateSink struct {
	s atomic.Pointer[gometrics.ShutdownSink]
}

var _ gometrics.MetricSink = (*lateSink)(nil)

func (l *lateSink) get() gometrics.MetricSink {
	if p := l.s.Load(); p != nil {
		return *p
	}
	return nil
}

func (l *lateSink) SetGauge(key []string, val float32) { l.SetGaugeWithLabels(key, val, nil) }

func (l *lateSink) SetGaugeWithLabels(key []string, val float32, labels []gometrics.Label) {
	if s := l.get(); s != nil {
		s.SetGaugeWithLabels(key, val, labels)
	}
}

func (l *lateSink) EmitKey(key []string, val float32) {
	if s := l.get(); s != nil {
		s.EmitKey(key, val)
	}
}

func (l *lateSink) IncrCounter(key []string, val float32) { l.IncrCounterWithLabels(key, val, nil) }

func (l *lateSink) IncrCounterWithLabels(key []string, val float32, labels []gometrics.Label) {
	if s := l.get(); s != nil {
		s.IncrCounterWithLabels(key, val, labels)
	}
}

func (l *lateSink) AddSample(key []string, val float32) { l.AddSampleWithLabels(key, val, nil) }

func (l *lateSink) AddSampleWithLabels(key []string, val float32, labels []gometrics.Label) {
	if s := l.get(); s != nil {
		s.AddSampleWithLabels(key, val, labels)
	}
}

// retriable is Consul's test for retrying a sink: its host name did not
// resolve.
func retriable(err error) bool {
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && dnsErr.IsNotFound
}

// retryLate tries make until it succeeds or the registry shuts down,
// backing off from one second to five minutes, as Consul does.
func (r *Registry) retryLate(l *lateSink, what string, make func() (gometrics.ShutdownSink, error)) {
	defer r.wg.Done()
	wait := time.Second
	for {
		t := time.NewTimer(wait)
		select {
		case <-r.shutdownCh:
			t.Stop()
			return
		case <-t.C:
		}
		s, err := make()
		if err == nil {
			r.mu.Lock()
			if r.stopped {
				r.mu.Unlock()
				s.Shutdown()
				return
			}
			l.s.Store(&s)
			r.extra = append(r.extra, s)
			r.mu.Unlock()
			r.logger.Info("metrics sink configured after retrying", "sink", what)
			return
		}
		r.logger.Warn("retrying metrics sink", "sink", what, "error", err)
		wait = min(2*wait, 5*time.Minute)
	}
}
