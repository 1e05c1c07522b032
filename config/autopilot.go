package config

import (
	"fmt"
	"time"
)

// AutopilotRuntime is the autopilot stanza beyond cleanup_dead_servers
// (Runtime.AutopilotCleanupDeadServers): the defaults the leader stores
// in Raft when no autopilot configuration is stored yet.
type AutopilotRuntime struct {
	LastContactThreshold    time.Duration
	MaxTrailingLogs         uint64
	MinQuorum               uint
	ServerStabilizationTime time.Duration
	// RedundancyZoneTag, DisableUpgradeMigration and UpgradeVersionTag
	// are Consul Enterprise features: stored and shown, no effect.
	RedundancyZoneTag       string
	DisableUpgradeMigration bool
	UpgradeVersionTag       string
}

// autopilotDefaults are Consul's.
func autopilotDefaults() *Autopilot {
	return &Autopilot{
		CleanupDeadServers:      ptr(true),
		LastContactThreshold:    ptr(200 * time.Millisecond),
		MaxTrailingLogs:         ptr(250),
		MinQuorum:               ptr(0),
		ServerStabilizationTime: ptr(10 * time.Second),
		RedundancyZoneTag:       ptr(""),
		DisableUpgradeMigration: ptr(false),
		UpgradeVersionTag:       ptr(""),
	}
}

// autopilotWarnings checks a source's autopilot values and warns once
// per enterprise-only key it sets.
func (b *builder) autopilotWarnings(sc *Config, name string) error {
	a := sc.Autopilot
	if a == nil {
		return nil
	}
	if err := validateAutopilot(a, name); err != nil {
		return err
	}
	for _, k := range []struct {
		key string
		set bool
	}{
		// Set to Consul's defaults ("", false) they change nothing.
		{"redundancy_zone_tag", a.RedundancyZoneTag != nil && *a.RedundancyZoneTag != ""},
		{"disable_upgrade_migration", a.DisableUpgradeMigration != nil && *a.DisableUpgradeMigration},
		{"upgrade_version_tag", a.UpgradeVersionTag != nil && *a.UpgradeVersionTag != ""},
	} {
		if k.set {
			b.warns = append(b.warns, fmt.Sprintf("%s: autopilot.%s: accepted but has no effect in Consulate (a Consul Enterprise feature)", name, k.key))
		}
	}
	return nil
}

// autopilotRuntime reads the merged stanza (every field set by the
// defaults). Negative counts are caught by validateAutopilot.
func autopilotRuntime(a *Autopilot) AutopilotRuntime {
	return AutopilotRuntime{
		LastContactThreshold:    *a.LastContactThreshold,
		MaxTrailingLogs:         uint64(max(*a.MaxTrailingLogs, 0)),
		MinQuorum:               uint(max(*a.MinQuorum, 0)),
		ServerStabilizationTime: *a.ServerStabilizationTime,
		RedundancyZoneTag:       *a.RedundancyZoneTag,
		DisableUpgradeMigration: *a.DisableUpgradeMigration,
		UpgradeVersionTag:       *a.UpgradeVersionTag,
	}
}

// validateAutopilot refuses values Consul refuses.
func validateAutopilot(a *Autopilot, name string) error {
	if a == nil {
		return nil
	}
	switch {
	case a.MaxTrailingLogs != nil && *a.MaxTrailingLogs < 0:
		return &Error{Source: name, Key: "autopilot.max_trailing_logs", Err: invalid("must not be negative")}
	case a.MinQuorum != nil && *a.MinQuorum < 0:
		return &Error{Source: name, Key: "autopilot.min_quorum", Err: invalid("must not be negative")}
	case a.LastContactThreshold != nil && *a.LastContactThreshold < 0:
		return &Error{Source: name, Key: "autopilot.last_contact_threshold", Err: invalid("must not be negative")}
	case a.ServerStabilizationTime != nil && *a.ServerStabilizationTime < 0:
		return &Error{Source: name, Key: "autopilot.server_stabilization_time", Err: invalid("must not be negative")}
	}
	return nil
}
