package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"
)

// legacyACLKey is one deprecated ACL key and where Consul moves it.
type legacyACLKey struct {
	old, new string
	get      func(c *Config) any
	// set stores v under the new key of c (whose acl stanza and tokens
	// block are copies); false when c already sets the new key.
	set func(c *Config, v any) bool
}

func setDur(dst **time.Duration, v any) bool {
	if *dst != nil {
		return false
	}
	*dst = v.(*time.Duration)
	return true
}

func tokens(c *Config) *ACLTokens {
	if c.ACL.Tokens == nil {
		c.ACL.Tokens = &ACLTokens{}
	}
	return c.ACL.Tokens
}

// legacyACLKeys are Consul 1.16's deprecated ACL keys, in the order its
// applyDeprecatedConfig handles them.
var legacyACLKeys = []legacyACLKey{
	{"acl_agent_master_token", "acl.tokens.agent_recovery", func(c *Config) any { return c.LegacyACLAgentMasterToken },
		func(c *Config, v any) bool { return setStr(&tokens(c).AgentRecovery, v) }},
	{"acl_agent_token", "acl.tokens.agent", func(c *Config) any { return c.LegacyACLAgentToken },
		func(c *Config, v any) bool { return setStr(&tokens(c).Agent, v) }},
	{"acl_token", "acl.tokens.default", func(c *Config) any { return c.LegacyACLToken },
		func(c *Config, v any) bool { return setStr(&tokens(c).Default, v) }},
	{"acl_master_token", "acl.tokens.initial_management", func(c *Config) any { return c.LegacyACLMasterToken },
		func(c *Config, v any) bool { return setStr(&tokens(c).InitialManagement, v) }},
	{"acl_replication_token", "acl.tokens.replication", func(c *Config) any { return c.LegacyACLReplicationToken },
		func(c *Config, v any) bool { return setStr(&tokens(c).Replication, v) }},
	{"enable_acl_replication", "acl.enable_token_replication", func(c *Config) any { return c.LegacyEnableACLReplication },
		func(c *Config, v any) bool { return setBool(&c.ACL.EnableTokenReplication, v) }},
	{"acl_datacenter", "primary_datacenter", func(c *Config) any { return c.LegacyACLDatacenter },
		func(c *Config, v any) bool { return setStr(&c.PrimaryDatacenter, v) }},
	{"acl_default_policy", "acl.default_policy", func(c *Config) any { return c.LegacyACLDefaultPolicy },
		func(c *Config, v any) bool { return setStr(&c.ACL.DefaultPolicy, v) }},
	{"acl_down_policy", "acl.down_policy", func(c *Config) any { return c.LegacyACLDownPolicy },
		func(c *Config, v any) bool { return setStr(&c.ACL.DownPolicy, v) }},
	{"acl_enable_key_list_policy", "acl.enable_key_list_policy", func(c *Config) any { return c.LegacyACLEnableKeyListPolicy },
		func(c *Config, v any) bool { return setBool(&c.ACL.EnableKeyListPolicy, v) }},
	{"acl_ttl", "acl.token_ttl", func(c *Config) any { return c.LegacyACLTTL },
		func(c *Config, v any) bool { return setDur(&c.ACL.TokenTTL, v) }},
	{"acl.tokens.master", "acl.tokens.initial_management", func(c *Config) any { return legacyToken(c, false) },
		func(c *Config, v any) bool { return setStr(&tokens(c).InitialManagement, v) }},
	{"acl.tokens.agent_master", "acl.tokens.agent_recovery", func(c *Config) any { return legacyToken(c, true) },
		func(c *Config, v any) bool { return setStr(&tokens(c).AgentRecovery, v) }},
}

func legacyToken(c *Config, agentMaster bool) *string {
	if c.ACL == nil || c.ACL.Tokens == nil {
		return nil
	}
	if agentMaster {
		return c.ACL.Tokens.LegacyAgentMaster
	}
	return c.ACL.Tokens.LegacyMaster
}

func nilPtr(v any) bool {
	rv := reflect.ValueOf(v)
	return !rv.IsValid() || rv.IsNil()
}

// applyLegacyACL moves one source's deprecated ACL keys to their new
// names, as Consul does per source before merging: a new key set in the
// same source wins over its deprecated form, and each use adds Consul's
// deprecation warning. As in Consul, acl_datacenter turns ACLs on and
// acl_replication_token turns token replication on (unless the same
// source sets acl.enabled or acl.enable_token_replication itself).
func (b *builder) applyLegacyACL(sc *Config, name string) {
	direct := origins{}
	if sc.ACL != nil {
		mergeStruct("acl", reflect.ValueOf(&ACL{}).Elem(), reflect.ValueOf(sc.ACL).Elem(), name, direct)
	}
	if sc.PrimaryDatacenter != nil {
		direct["primary_datacenter"] = name
	}
	for p := range direct {
		delete(b.legacy, p)
	}
	// Work on copies so the parsed source is not changed.
	var a ACL
	if sc.ACL != nil {
		a = *sc.ACL
		if a.Tokens != nil {
			t := *a.Tokens
			a.Tokens = &t
		}
	}
	cp := *sc
	cp.ACL = &a
	used := false
	for _, k := range legacyACLKeys {
		v := k.get(sc)
		if nilPtr(v) {
			continue
		}
		used = true
		b.warns = append(b.warns, fmt.Sprintf("%s: the '%s' field is deprecated; use the '%s' field instead", name, k.old, k.new))
		if k.set(&cp, v) {
			b.legacy[k.new] = k.old
		}
	}
	if !used {
		return
	}
	if sc.LegacyACLDatacenter != nil && a.Enabled == nil {
		a.Enabled = ptr(true)
	}
	if sc.LegacyACLReplicationToken != nil && a.EnableTokenReplication == nil {
		a.EnableTokenReplication = ptr(true)
	}
	if a.Tokens != nil {
		a.Tokens.LegacyMaster, a.Tokens.LegacyAgentMaster = nil, nil
	}
	sc.ACL, sc.PrimaryDatacenter = cp.ACL, cp.PrimaryDatacenter
}

// legacyErrorf is an error about a key path that names the deprecated key
// when that is what set it.
func (b *builder) legacyErrorf(path, format string, args ...any) error {
	return b.tlsErrorf(path, format, args...)
}

// acl builds the ACL settings and the primary datacenter.
func (b *builder) acl(c *Config, rt *Runtime) error {
	a := c.ACL
	rt.ACLsEnabled = *a.Enabled
	rt.ACLDefaultPolicy = *a.DefaultPolicy
	rt.ACLDownPolicy = *a.DownPolicy
	rt.ACLEnableTokenPersistence = *a.EnableTokenPersistence
	rt.ACLEnableTokenReplication = *a.EnableTokenReplication
	rt.ACLEnableKeyListPolicy = a.EnableKeyListPolicy != nil && *a.EnableKeyListPolicy
	rt.ACLTokenTTL, rt.ACLPolicyTTL, rt.ACLRoleTTL = *a.TokenTTL, *a.PolicyTTL, *a.RoleTTL
	if t := a.Tokens; t != nil {
		rt.ACLTokens = ACLTokensRuntime{
			InitialManagement:             str(t.InitialManagement),
			Agent:                         str(t.Agent),
			AgentRecovery:                 str(t.AgentRecovery),
			Default:                       str(t.Default),
			Replication:                   str(t.Replication),
			ConfigFileServiceRegistration: str(t.ConfigFileServiceRegistration),
		}
	}
	switch rt.ACLDefaultPolicy {
	case "allow", "deny":
	default:
		return b.legacyErrorf("acl.default_policy", "must be allow or deny, got %q", rt.ACLDefaultPolicy)
	}
	switch rt.ACLDownPolicy {
	case "allow", "deny", "extend-cache", "async-cache":
	default:
		return b.legacyErrorf("acl.down_policy", "must be allow, deny, extend-cache or async-cache, got %q", rt.ACLDownPolicy)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"acl.token_ttl", rt.ACLTokenTTL}, {"acl.policy_ttl", rt.ACLPolicyTTL}, {"acl.role_ttl", rt.ACLRoleTTL}} {
		if d.v < 0 {
			return b.legacyErrorf(d.key, "must not be negative, got %s", d.v)
		}
	}
	rt.PrimaryDatacenter = rt.Datacenter
	if c.PrimaryDatacenter != nil && strings.TrimSpace(*c.PrimaryDatacenter) != "" {
		dc := strings.ToLower(strings.TrimSpace(*c.PrimaryDatacenter))
		if !datacenterRE.MatchString(dc) {
			return b.legacyErrorf("primary_datacenter", "%q may hold only letters, digits, '_' and '-'", *c.PrimaryDatacenter)
		}
		rt.PrimaryDatacenter = dc
	}
	return nil
}
