package config

import (
	"fmt"
	"time"
)

// compat builds the Consul keys that work here but had no stanza of
// their own before the compatibility table: raft_protocol,
// session_ttl_min, default_query_time, max_query_time,
// check_output_max_size, dns_config.recursor_strategy and
// performance.leave_drain_time.
func (b *builder) compat(c *Config, rt *Runtime) error {
	rt.RaftProtocol = *c.RaftProtocol
	if rt.RaftProtocol != 3 {
		return b.errorf("raft_protocol", "raft_protocol version %d is not supported by this version of Consul (only 3)", rt.RaftProtocol)
	}
	rt.SessionTTLMin = *c.SessionTTLMin
	if rt.SessionTTLMin <= 0 || rt.SessionTTLMin > 24*time.Hour {
		return b.errorf("session_ttl_min", "must be > 0 and at most 24h (the longest session TTL), got %s", rt.SessionTTLMin)
	}
	rt.DefaultQueryTime, rt.MaxQueryTime = *c.DefaultQueryTime, *c.MaxQueryTime
	if rt.MaxQueryTime <= 0 {
		return b.errorf("max_query_time", "must be > 0, got %s", rt.MaxQueryTime)
	}
	if rt.DefaultQueryTime <= 0 {
		return b.errorf("default_query_time", "must be > 0, got %s", rt.DefaultQueryTime)
	}
	if rt.DefaultQueryTime > rt.MaxQueryTime {
		return b.errorf("default_query_time", "%s is longer than max_query_time %s", rt.DefaultQueryTime, rt.MaxQueryTime)
	}
	rt.CheckOutputMaxSize = *c.CheckOutputMaxSize
	if rt.CheckOutputMaxSize < 1 {
		return b.errorf("check_output_max_size", "must be positive, got %d", rt.CheckOutputMaxSize)
	}
	rt.LeaveDrainTime = *c.Performance.LeaveDrainTime
	if rt.LeaveDrainTime < 0 {
		// Any duration Consul accepts: the agent's leave timeout is
		// extended by it, so a long drain is not cut short.
		return b.errorf("performance.leave_drain_time", "must not be negative, got %s", rt.LeaveDrainTime)
	}
	switch s := *c.DNS.RecursorStrategy; s {
	case "sequential":
	case "random":
		b.warns = append(b.warns, ignoredWarning(b.og["dns_config.recursor_strategy"], "dns_config.recursor_strategy",
			fmt.Sprintf("recursors are always tried in order, not %q", s)))
	default:
		return b.errorf("dns_config.recursor_strategy", "must be \"sequential\" or \"random\", got %q", s)
	}
	rt.DNSRecursorStrategy = *c.DNS.RecursorStrategy
	return nil
}
