package server

import "consulate/metrics"

// CollectPort sets the server port's gauges from PortStats: open and
// rejected connections, handshake timeouts, idle plain connections closed
// and rejected streams, and the subscriptions (streams) being served. It
// is a metrics.Collector.
func (s *Server) CollectPort(set func(name string, labels metrics.Labels, value float64)) {
	st := s.PortStats()
	set("consul.rpc.conns.open", nil, float64(st.Conns))
	set("consul.rpc.conns.rejected", nil, float64(st.ConnsRejected))
	set("consul.rpc.handshake.timeouts", nil, float64(st.HandshakeTimeouts))
	set("consul.rpc.plain.idle_closed", nil, float64(st.IdleClosed))
	set("consul.rpc.streams.rejected", nil, float64(st.StreamsRejected))
	set("consul.server.subscriptions", nil, float64(s.subscriptions.Load()))
}
