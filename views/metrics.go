package views

import "consulate/metrics"

// Collect sets the store's gauges: the views held, of them those
// currently served (holding a snapshot they may answer from), and the
// streams ended so far because they fell silent (Config.StaleAfter). It
// is a metrics.Collector.
func (s *Store) Collect(set func(name string, labels metrics.Labels, value float64)) {
	s.mu.RLock()
	total, ready := len(s.views), 0
	for _, v := range s.views {
		if v.state.Load().ready {
			ready++
		}
	}
	s.mu.RUnlock()
	set("consul.agent.views.count", metrics.Labels{}, float64(total))
	set("consul.agent.views.served", metrics.Labels{}, float64(ready))
	set("consul.agent.views.stale_streams", metrics.Labels{}, float64(s.staleCount.Load()))
}
