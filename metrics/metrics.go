package metrics

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
)

// Labels qualify a metric, e.g. {"datacenter": "dc2"}.
type Labels map[string]string

// Gauge is a gauge in Consul's JSON shape.
type Gauge struct {
	Name   string
	Value  float64
	Labels Labels
}

// Counter is a counter in Consul's JSON shape.
type Counter struct {
	Name   string
	Count  int
	Rate   float64
	Sum    float64
	Min    float64
	Max    float64
	Mean   float64
	Stddev float64
	Labels Labels
}

// Summary is the JSON body of /v1/agent/metrics.
type Summary struct {
	Timestamp string
	Gauges    []Gauge
	Points    []any
	Counters  []Counter
	Samples   []Counter
}

// Collector fills current-state gauges at scrape time.
type Collector func(set func(name string, labels Labels, value float64))

// Registry holds counters and collectors. It is safe for concurrent use.
type Registry struct {
	// mu guards counters and collectors.
	mu         sync.Mutex
	counters   map[string]*Counter
	collectors []Collector
	now        func() time.Time
}

// New returns an empty registry.
func New() *Registry {
	return &Registry{counters: make(map[string]*Counter), now: time.Now}
}

// AddCollector registers a collector run on every scrape.
func (r *Registry) AddCollector(c Collector) {
	r.mu.Lock()
	r.collectors = append(r.collectors, c)
	r.mu.Unlock()
}

func key(name string, labels Labels) string {
	if len(labels) == 0 {
		return name
	}
	ks := make([]string, 0, len(labels))
	for k := range labels {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	b.WriteString(name)
	for _, k := range ks {
		b.WriteString(";" + k + "=" + labels[k])
	}
	return b.String()
}

// Incr adds delta to a counter.
func (r *Registry) Incr(name string, labels Labels, delta float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := key(name, labels)
	c := r.counters[k]
	if c == nil {
		c = &Counter{Name: name, Labels: labels, Min: delta, Max: delta}
		r.counters[k] = c
	}
	c.Count++
	c.Sum += delta
	c.Min = math.Min(c.Min, delta)
	c.Max = math.Max(c.Max, delta)
	c.Mean = c.Sum / float64(c.Count)
	c.Rate = c.Sum
}

// Summary returns the current values in Consul's JSON shape.
func (r *Registry) Summary() Summary {
	r.mu.Lock()
	collectors := append([]Collector(nil), r.collectors...)
	counters := make([]Counter, 0, len(r.counters))
	for _, c := range r.counters {
		counters = append(counters, *c)
	}
	r.mu.Unlock()
	var gauges []Gauge
	for _, c := range collectors {
		c(func(name string, labels Labels, value float64) {
			gauges = append(gauges, Gauge{Name: name, Value: value, Labels: labels})
		})
	}
	sort.Slice(gauges, func(i, j int) bool {
		return key(gauges[i].Name, gauges[i].Labels) < key(gauges[j].Name, gauges[j].Labels)
	})
	sort.Slice(counters, func(i, j int) bool {
		return key(counters[i].Name, counters[i].Labels) < key(counters[j].Name, counters[j].Labels)
	})
	if gauges == nil {
		gauges = []Gauge{}
	}
	for i := range gauges {
		if gauges[i].Labels == nil {
			gauges[i].Labels = Labels{}
		}
	}
	for i := range counters {
		if counters[i].Labels == nil {
			counters[i].Labels = Labels{}
		}
	}
	return Summary{
		Timestamp: r.now().UTC().Truncate(10 * time.Second).Format("2006-01-02 15:04:05 -0700 MST"),
		Gauges:    gauges, Points: []any{}, Counters: counters, Samples: []Counter{},
	}
}

// promName turns "consul.serf.member.flap" into "consul_serf_member_flap".
func promName(name string) string {
	var b strings.Builder
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == ':':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

func promLabels(l Labels) string {
	if len(l) == 0 {
		return ""
	}
	ks := make([]string, 0, len(l))
	for k := range l {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	parts := make([]string, len(ks))
	for i, k := range ks {
		v := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(l[k])
		parts[i] = fmt.Sprintf("%s=%q", promName(k), v)
		parts[i] = promName(k) + `="` + v + `"`
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// Prometheus renders the current values in the text exposition format.
func (r *Registry) Prometheus() string {
	s := r.Summary()
	var b strings.Builder
	typed := map[string]bool{}
	for _, g := range s.Gauges {
		n := promName(g.Name)
		if !typed[n] {
			fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", n, g.Name, n)
			typed[n] = true
		}
		fmt.Fprintf(&b, "%s%s %g\n", n, promLabels(g.Labels), g.Value)
	}
	for _, c := range s.Counters {
		n := promName(c.Name)
		if !typed[n] {
			fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n", n, c.Name, n)
			typed[n] = true
		}
		fmt.Fprintf(&b, "%s%s %g\n", n, promLabels(c.Labels), c.Sum)
	}
	return b.String()
}
