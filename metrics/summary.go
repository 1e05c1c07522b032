package metrics

import (
	"sort"

	gometrics "github.com/hashicorp/go-metrics"
)

// Gauge is a gauge in Consul's JSON shape.
type Gauge struct {
	Name   string
	Value  float32
	Labels map[string]string
}

// Point is a key's emitted values in Consul's JSON shape.
type Point struct {
	Name   string
	Points []float32
}

// Sampled is a counter or a sample (timer) in Consul's JSON shape.
type Sampled struct {
	Name   string
	Count  int
	Rate   float64
	Sum    float64
	Min    float64
	Max    float64
	Mean   float64
	Stddev float64
	Labels map[string]string
}

// Summary is the JSON body of /v1/agent/metrics, as Consul serves it:
// the counters, samples and points of the last finished in-memory
// interval (the current one while it is the only one), and the latest
// value of every gauge.
type Summary struct {
	Timestamp string
	Gauges    []Gauge
	Points    []Point
	Counters  []Sampled
	Samples   []Sampled
}

// Summary collects the current gauges and returns the metrics in
// Consul's JSON shape.
func (r *Registry) Summary() Summary {
	r.collect()
	data := r.inmem.Data()
	cur := data[len(data)-1]
	shown := cur
	if len(data) > 1 {
		shown = data[len(data)-2]
	}
	shown.RLock()
	out := Summary{
		Timestamp: shown.Interval.Round(1e9).UTC().String(),
		Gauges:    []Gauge{},
		Points:    []Point{},
		Counters:  sampled(shown.Counters),
		Samples:   sampled(shown.Samples),
	}
	gauges := make(map[string]gometrics.GaugeValue, len(shown.Gauges))
	for k, g := range shown.Gauges {
		gauges[k] = g
	}
	for k, p := range shown.Points {
		out.Points = append(out.Points, Point{Name: k, Points: append([]float32(nil), p...)})
	}
	shown.RUnlock()
	// A gauge keeps its last value: the current interval's (taken just
	// now) win over the finished one's.
	if cur != shown {
		cur.RLock()
		for k, g := range cur.Gauges {
			gauges[k] = g
		}
		cur.RUnlock()
	}
	for _, k := range sortedKeys(gauges) {
		g := gauges[k]
		out.Gauges = append(out.Gauges, Gauge{Name: g.Name, Value: g.Value, Labels: display(g.Labels)})
	}
	sort.Slice(out.Points, func(i, j int) bool { return out.Points[i].Name < out.Points[j].Name })
	return out
}

func sampled(m map[string]gometrics.SampledValue) []Sampled {
	out := make([]Sampled, 0, len(m))
	for _, k := range sortedKeys(m) {
		v := m[k]
		s := Sampled{Name: v.Name, Labels: display(v.Labels)}
		if a := v.AggregateSample; a != nil {
			s.Count, s.Rate, s.Sum, s.Min, s.Max = a.Count, a.Rate, a.Sum, a.Min, a.Max
			s.Mean, s.Stddev = a.Mean(), a.Stddev()
		}
		out = append(out, s)
	}
	return out
}

func display(ls []gometrics.Label) map[string]string {
	out := make(map[string]string, len(ls))
	for _, l := range ls {
		out[l.Name] = l.Value
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Totals sums the counters and samples of every retained in-memory
// interval, the current one included, by name and labels (Count, Sum,
// Min and Max; Rate, Mean and Stddev are left zero). Unlike Summary it
// does not lose or split counts across an interval boundary, which is
// what a test counting its own emissions needs.
func (r *Registry) Totals() (counters, samples []Sampled) {
	c := map[string]*Sampled{}
	s := map[string]*Sampled{}
	add := func(into map[string]*Sampled, from map[string]gometrics.SampledValue) {
		for k, v := range from {
			a := v.AggregateSample
			if a == nil {
				continue
			}
			t, ok := into[k]
			if !ok {
				t = &Sampled{Name: v.Name, Labels: display(v.Labels), Min: a.Min, Max: a.Max}
				into[k] = t
			}
			t.Count += a.Count
			t.Sum += a.Sum
			t.Min, t.Max = min(t.Min, a.Min), max(t.Max, a.Max)
		}
	}
	for _, iv := range r.inmem.Data() {
		iv.RLock()
		add(c, iv.Counters)
		add(s, iv.Samples)
		iv.RUnlock()
	}
	list := func(m map[string]*Sampled) []Sampled {
		out := make([]Sampled, 0, len(m))
		for _, k := range sortedKeys(m) {
			out = append(out, *m[k])
		}
		return out
	}
	return list(c), list(s)
}
