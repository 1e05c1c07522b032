package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/hashicorp/go-metrics/datadog"
	gmprom "github.com/hashicorp/go-metrics/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"consulate/internal/waitctx"
)

// ErrInvalidConfig wraps every Config.Validate error.
var ErrInvalidConfig = errors.New("metrics: invalid config")

// Labels qualify a gauge a collector sets, e.g. {"datacenter": "dc2"}.
type Labels map[string]string

// Collector sets gauges that describe current state. It runs on the
// collection interval and before every read of the metrics. Names are
// Consul's full names ("consul.memberlist.health.score"); the leading
// "consul." is replaced by the agent's metrics_prefix.
type Collector func(set func(name string, labels Labels, value float64))

// Config is the agent's telemetry block, in the terms go-metrics uses.
type Config struct {
	// Prefix is telemetry.metrics_prefix ("consul"); empty: none.
	Prefix string
	// DisableHostname keeps the host name out of gauge names. As in
	// Consul it matters only when a sink other than the in-memory one is
	// configured: without one the host name is never added.
	DisableHostname bool
	// HostName is the name gauges get when DisableHostname is false;
	// empty means os.Hostname(), as go-metrics does.
	HostName string
	// FilterDefault allows metrics no prefix rule matches.
	FilterDefault bool
	// AllowedPrefixes and BlockedPrefixes are telemetry.prefix_filter's
	// "+" and "-" rules, full names with the prefix ("consul.raft").
	AllowedPrefixes []string
	BlockedPrefixes []string
	// PrometheusRetention is telemetry.prometheus_retention_time; zero
	// means the Prometheus format is off (as in Consul).
	PrometheusRetention time.Duration
	// StatsdAddr, StatsiteAddr and DogstatsdAddr are host:port; empty
	// means that sink is off. DogstatsdTags are "key:value" tags sent
	// with every dogstatsd metric.
	StatsdAddr    string
	StatsiteAddr  string
	DogstatsdAddr string
	DogstatsdTags []string
	// RetryFailedConnection: a dogstatsd address whose host name does
	// not resolve yet is retried in the background instead of failing
	// New (statsd and statsite always retry, they dial lazily).
	RetryFailedConnection bool
	// Interval and Retain are the in-memory sink's aggregation interval
	// and how long intervals are kept (Consul: 10s and 1m).
	Interval time.Duration
	Retain   time.Duration
	// CollectInterval is how often collectors run; RuntimeInterval how
	// often the Go runtime gauges are taken (go-metrics: every second).
	CollectInterval time.Duration
	RuntimeInterval time.Duration
}

// DefaultConfig is Consul's default telemetry block.
func DefaultConfig() Config {
	return Config{
		Prefix:          "consul",
		FilterDefault:   true,
		Interval:        10 * time.Second,
		Retain:          time.Minute,
		CollectInterval: 10 * time.Second,
		RuntimeInterval: time.Second,
	}
}

// Validate checks the durations. An empty Prefix is allowed (metric
// names then start with their key, as go-metrics does).
func (c Config) Validate() error {
	switch {
	case c.Interval <= 0 || c.Retain < c.Interval:
		return fmt.Errorf("%w: in-memory interval %v must be positive and at most the retention %v", ErrInvalidConfig, c.Interval, c.Retain)
	case c.CollectInterval <= 0 || c.RuntimeInterval <= 0:
		return fmt.Errorf("%w: collect interval %v and runtime interval %v must be positive", ErrInvalidConfig, c.CollectInterval, c.RuntimeInterval)
	case c.PrometheusRetention < 0:
		return fmt.Errorf("%w: prometheus retention %v is negative", ErrInvalidConfig, c.PrometheusRetention)
	}
	return nil
}

// Registry is one agent's telemetry: its sinks, its go-metrics instance
// (prefix, hostname, filters) and its collectors.
type Registry struct {
	cfg    Config
	logger *slog.Logger
	inmem  *gometrics.InmemSink
	m      *gometrics.Metrics
	// extra are the sinks that need a Shutdown (statsd, statsite,
	// dogstatsd); guarded by mu once started.
	extra []gometrics.ShutdownSink
	// prom is nil when the Prometheus format is off.
	prom    *prometheus.Registry
	promH   http.Handler
	promCtx context.CancelFunc
	// late are the retries of sinks that could not be made yet, run by
	// Start.
	late []func()

	// mu guards collectors and started/stopped.
	mu         sync.Mutex
	collectors []Collector
	started    bool
	stopped    bool
	// collectMu serialises collection (go-metrics' runtime stats keep
	// state between calls).
	collectMu sync.Mutex

	shutdownCh chan struct{}
	wg         sync.WaitGroup
}

// New builds the agent's sinks from cfg. Network sinks are created here
// (statsd and statsite dial lazily, dogstatsd resolves its address now);
// nothing is emitted to them before Start. A nil logger discards.
func New(cfg Config, logger *slog.Logger) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	install()
	r := &Registry{
		cfg:        cfg,
		logger:     logger.With("component", "metrics"),
		inmem:      gometrics.NewInmemSink(cfg.Interval, cfg.Retain),
		shutdownCh: make(chan struct{}),
	}
	host := cfg.HostName
	if host == "" {
		host, _ = os.Hostname()
	}
	sinks := gometrics.FanoutSink{}
	fail := func(err error) (*Registry, error) {
		for _, s := range r.extra {
			s.Shutdown()
		}
		return nil, err
	}
	if cfg.StatsiteAddr != "" {
		s, err := gometrics.NewStatsiteSink(cfg.StatsiteAddr)
		if err != nil {
			return fail(fmt.Errorf("metrics: statsite sink %s: %w", cfg.StatsiteAddr, err))
		}
		r.extra = append(r.extra, s)
		sinks = append(sinks, s)
	}
	if cfg.StatsdAddr != "" {
		s, err := gometrics.NewStatsdSink(cfg.StatsdAddr)
		if err != nil {
			return fail(fmt.Errorf("metrics: statsd sink %s: %w", cfg.StatsdAddr, err))
		}
		r.extra = append(r.extra, s)
		sinks = append(sinks, s)
	}
	if cfg.DogstatsdAddr != "" {
		dog := func() (gometrics.ShutdownSink, error) {
			s, err := datadog.NewDogStatsdSink(cfg.DogstatsdAddr, host)
			if err != nil {
				return nil, err
			}
			s.SetTags(cfg.DogstatsdTags)
			return s, nil
		}
		s, err := dog()
		switch {
		case err == nil:
			r.extra = append(r.extra, s)
			sinks = append(sinks, s)
		case cfg.RetryFailedConnection && retriable(err):
			r.logger.Warn("dogstatsd address does not resolve; retrying", "addr", cfg.DogstatsdAddr, "error", err)
			l := &lateSink{}
			r.late = append(r.late, func() { r.retryLate(l, "dogstatsd", dog) })
			sinks = append(sinks, l)
		default:
			return fail(fmt.Errorf("metrics: dogstatsd sink %s: %w", cfg.DogstatsdAddr, err))
		}
	}
	if cfg.PrometheusRetention > 0 {
		reg := prometheus.NewRegistry()
		// Consul serves the default registry, which has these two.
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		gauges, summaries, counters := prometheusDefinitions(cfg.Prefix)
		ps, err := gmprom.NewPrometheusSinkFrom(gmprom.PrometheusOpts{
			Expiration:         cfg.PrometheusRetention,
			Registerer:         reg,
			Name:               cfg.Prefix,
			GaugeDefinitions:   gauges,
			SummaryDefinitions: summaries,
			CounterDefinitions: counters,
		})
		if err != nil {
			return fail(fmt.Errorf("metrics: prometheus sink: %w", err))
		}
		ctx, cancel := context.WithCancel(context.Background())
		ps.RunBackgroundCleanup(ctx)
		r.prom, r.promCtx = reg, cancel
		r.promH = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
			ErrorLog:      slog.NewLogLogger(r.logger.Handler(), slog.LevelWarn),
			ErrorHandling: promhttp.ContinueOnError,
		})
		sinks = append(sinks, ps)
	}
	conf := &gometrics.Config{
		ServiceName: cfg.Prefix,
		HostName:    host,
		// As Consul: the host name goes into gauge names only when some
		// sink besides the in-memory one exists, and not when disabled.
		EnableHostname:   !cfg.DisableHostname && len(sinks) > 0,
		TimerGranularity: time.Millisecond,
		ProfileInterval:  cfg.RuntimeInterval,
		AllowedPrefixes:  cfg.AllowedPrefixes,
		BlockedPrefixes:  cfg.BlockedPrefixes,
		FilterDefault:    cfg.FilterDefault,
	}
	sinks = append(sinks, r.inmem)
	m, err := gometrics.New(conf, sinks)
	if err != nil {
		if r.promCtx != nil {
			r.promCtx()
		}
		return fail(err)
	}
	r.m = m
	return r, nil
}

// AddCollector registers a collector; call it before Start.
func (r *Registry) AddCollector(c Collector) {
	r.mu.Lock()
	r.collectors = append(r.collectors, c)
	r.mu.Unlock()
}

// Start joins the process's go-metrics global and starts the collection
// loop.
func (r *Registry) Start() error {
	r.mu.Lock()
	if r.started || r.stopped {
		r.mu.Unlock()
		return errors.New("metrics: already started")
	}
	r.started = true
	install()
	global.attach(r.m)
	r.wg.Add(1 + len(r.late))
	go r.loop()
	for _, f := range r.late {
		go f()
	}
	r.mu.Unlock()
	r.collect()
	return nil
}

// Shutdown leaves the global, stops the loop and the network sinks. It
// is idempotent.
func (r *Registry) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return nil
	}
	r.stopped = true
	started := r.started
	r.mu.Unlock()
	if started {
		global.detach(r.m)
	}
	close(r.shutdownCh)
	err := waitctx.Wait(ctx, &r.wg)
	if r.promCtx != nil {
		r.promCtx()
	}
	r.mu.Lock()
	extra := r.extra
	r.mu.Unlock()
	for _, s := range extra {
		s.Shutdown()
	}
	return err
}

func (r *Registry) loop() {
	defer r.wg.Done()
	rt := time.NewTicker(r.cfg.RuntimeInterval)
	defer rt.Stop()
	ct := time.NewTicker(r.cfg.CollectInterval)
	defer ct.Stop()
	for {
		select {
		case <-r.shutdownCh:
			return
		case <-rt.C:
			r.collectMu.Lock()
			r.m.EmitRuntimeStats()
			r.collectMu.Unlock()
		case <-ct.C:
			r.collect()
		}
	}
}

// collect runs the collectors and takes the runtime gauges.
func (r *Registry) collect() {
	r.mu.Lock()
	cs := append([]Collector(nil), r.collectors...)
	r.mu.Unlock()
	r.collectMu.Lock()
	defer r.collectMu.Unlock()
	r.m.EmitRuntimeStats()
	set := func(name string, labels Labels, value float64) {
		r.m.SetGaugeWithLabels(keyOf(name), float32(value), labelList(labels))
	}
	for _, c := range cs {
		c(set)
	}
}

// keyOf turns "consul.serf.member.failed" into the key go-metrics wants,
// without the prefix (the agent's Metrics adds its own).
func keyOf(name string) []string {
	name = strings.TrimPrefix(name, "consul.")
	return strings.Split(name, ".")
}

func labelList(l Labels) []gometrics.Label {
	if len(l) == 0 {
		return nil
	}
	out := make([]gometrics.Label, 0, len(l))
	for _, k := range sortedKeys(l) {
		out = append(out, gometrics.Label{Name: k, Value: l[k]})
	}
	return out
}

// Metrics is the agent's own go-metrics instance (its prefix, hostname
// and filters), for emitting metrics that belong to this agent alone.
// Code that does not know its agent emits through go-metrics' global.
func (r *Registry) Metrics() *gometrics.Metrics { return r.m }

// PrometheusHandler serves the Prometheus exposition (text or
// OpenMetrics, as the request asks); nil when the format is off.
func (r *Registry) PrometheusHandler() http.Handler {
	if r.promH == nil {
		return nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.collect()
		r.promH.ServeHTTP(w, req)
	})
}
