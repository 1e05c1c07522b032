package cache

import "consulate/metrics"

// Collect sets the cache's gauges: its entries (Consul's agent cache
// reports consul.cache.entries_count) and the DNS-facing negative entries
// and remembered names. It is a metrics.Collector.
func (c *Cache) Collect(set func(name string, labels metrics.Labels, value float64)) {
	st := c.Stats()
	set("consul.cache.entries_count", metrics.Labels{}, float64(st.Entries))
	set("consul.dns.cache.negative_entries", metrics.Labels{}, float64(st.Negative))
	set("consul.dns.cache.recent_names", metrics.Labels{}, float64(st.Recent))
}
