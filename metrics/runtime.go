package metrics

import "runtime"

// CollectRuntime sets Consul's Go runtime gauges: goroutines, allocated
// and system bytes, heap objects. It is a Collector.
func CollectRuntime(set func(name string, labels Labels, value float64)) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	set("consul.runtime.num_goroutines", Labels{}, float64(runtime.NumGoroutine()))
	set("consul.runtime.alloc_bytes", Labels{}, float64(ms.Alloc))
	set("consul.runtime.sys_bytes", Labels{}, float64(ms.Sys))
	set("consul.runtime.heap_objects", Labels{}, float64(ms.HeapObjects))
}
