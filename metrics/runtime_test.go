package metrics

import "testing"

func TestCollectRuntime(t *testing.T) {
	r := New()
	r.AddCollector(CollectRuntime)
	got := map[string]float64{}
	for _, g := range r.Summary().Gauges {
		got[g.Name] = g.Value
	}
	for _, n := range []string{"consul.runtime.num_goroutines", "consul.runtime.alloc_bytes", "consul.runtime.sys_bytes", "consul.runtime.heap_objects"} {
		if got[n] <= 0 {
			t.Errorf("%s = %v", n, got[n])
		}
	}
}
