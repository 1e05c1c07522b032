package acl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"consulate/structs"
)

// Down policies (acl.down_policy): what the agent decides when the
// servers cannot be asked about a token.
const (
	DownAllow       = "allow"
	DownDeny        = "deny"
	DownExtendCache = "extend-cache"
	DownAsyncCache  = "async-cache"
)

// RecoveryAccessorID is the AccessorID the agent recovery token resolves
// to (it is no token of the servers).
const RecoveryAccessorID = "agent-recovery-token"

// RPCFunc calls a server: the agent's RPC (structs.Method*, pointer args
// and reply).
type RPCFunc func(ctx context.Context, method structs.Method, args, reply any) error

// ResolverConfig configures a Resolver.
type ResolverConfig struct {
	// RPC asks the servers (ACL.Resolve, in the local datacenter).
	// Required.
	RPC RPCFunc
	// Datacenter is the agent's datacenter: identities and policies
	// limited to other datacenters grant nothing here.
	Datacenter string
	// NodeName is the agent's node, for the agent recovery token.
	NodeName string
	// DefaultPolicy (acl.default_policy) is "allow" or "deny" ("" = allow).
	DefaultPolicy string
	// DownPolicy (acl.down_policy) is one of the Down* values ("" =
	// extend-cache, Consul's default).
	DownPolicy string
	// TokenTTL, PolicyTTL and RoleTTL (acl.token_ttl, ...): a resolved
	// secret is cached for the shortest of them (30s when all are zero).
	TokenTTL, PolicyTTL, RoleTTL time.Duration
	// IsAgentRecoveryToken reports whether a secret is the agent recovery
	// token, which resolves locally (nil: none is).
	IsAgentRecoveryToken func(secret string) bool
	// MaxEntries bounds the cache (1024 when zero).
	MaxEntries int
	// RPCTimeout bounds one ACL.Resolve call (10s when zero); the call is
	// shared by every caller waiting on the same secret, so it does not
	// end with the first caller's context.
	RPCTimeout time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock (time.Now when nil), for tests.
	Now func() time.Time
}

// Resolver turns token secrets into Authorizers for the agent: it asks the
// servers (ACL.Resolve), caches the answer per secret, shares concurrent
// lookups of one secret, and applies the down policy when the servers
// cannot be asked. It is safe for concurrent use.
type Resolver struct {
	cfg    ResolverConfig
	ttl    time.Duration
	logger *slog.Logger

	mu       sync.Mutex
	cache    map[string]*entry
	inflight map[string]*call
	// bg counts background refreshes (async-cache), for Wait in tests.
	bg sync.WaitGroup
}

// entry is one resolved secret.
type entry struct {
	authz   Authorizer
	token   *structs.ACLToken
	expires time.Time
}

// tokenExpired reports whether the token itself has expired at now (its
// ExpirationTime), whatever the cache's own TTL says.
func (e *entry) tokenExpired(now time.Time) bool {
	if e.token == nil || e.token.ExpirationTime == nil || e.token.ExpirationTime.IsZero() {
		return false
	}
	return !now.Before(*e.token.ExpirationTime)
}

// call is one ACL.Resolve in flight; done is closed when ent/err are set.
type call struct {
	done chan struct{}
	ent  *entry
	err  error
}

// NewResolver validates cfg and returns a Resolver.
func NewResolver(cfg ResolverConfig) (*Resolver, error) {
	if cfg.RPC == nil {
		return nil, errors.New("acl: resolver needs an RPC func")
	}
	switch cfg.DefaultPolicy {
	case "":
		cfg.DefaultPolicy = "allow"
	case "allow", "deny":
	default:
		return nil, fmt.Errorf("acl: invalid default policy %q (allow or deny)", cfg.DefaultPolicy)
	}
	switch cfg.DownPolicy {
	case "":
		cfg.DownPolicy = DownExtendCache
	case DownAllow, DownDeny, DownExtendCache, DownAsyncCache:
	default:
		return nil, fmt.Errorf("acl: invalid down policy %q (allow, deny, extend-cache or async-cache)", cfg.DownPolicy)
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 1024
	}
	if cfg.RPCTimeout <= 0 {
		cfg.RPCTimeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ttl := time.Duration(0)
	for _, d := range []time.Duration{cfg.TokenTTL, cfg.PolicyTTL, cfg.RoleTTL} {
		if d > 0 && (ttl == 0 || d < ttl) {
			ttl = d
		}
	}
	if ttl == 0 {
		ttl = 30 * time.Second
	}
	return &Resolver{
		cfg: cfg, ttl: ttl, logger: cfg.Logger.With("component", "acl"),
		cache: map[string]*entry{}, inflight: map[string]*call{},
	}, nil
}

// Resolve returns what the holder of secret may do and its token. ""
// is the anonymous token. An unknown or expired secret is
// structs.ErrACLNotFound. When the servers cannot be asked, the down
// policy decides (the token is then nil unless it came from the cache).
func (r *Resolver) Resolve(ctx context.Context, secret string) (Authorizer, *structs.ACLToken, error) {
	if secret == "" {
		secret = structs.ACLTokenAnonymousSecret
	}
	if r.cfg.IsAgentRecoveryToken != nil && r.cfg.IsAgentRecoveryToken(secret) {
		return r.recovery(), &structs.ACLToken{AccessorID: RecoveryAccessorID, Description: "Agent Recovery Token"}, nil
	}
	now := r.cfg.Now()
	r.mu.Lock()
	cached := r.cache[secret]
	if cached != nil && cached.tokenExpired(now) {
		// Past the token's own expiration no cache or down policy keeps
		// it alive.
		delete(r.cache, secret)
		r.mu.Unlock()
		return nil, nil, structs.ErrACLNotFound
	}
	if cached != nil && now.Before(cached.expires) {
		r.mu.Unlock()
		return cached.authz, cached.token, nil
	}
	if cached != nil && r.cfg.DownPolicy == DownAsyncCache {
		// Serve the stale answer now; refresh behind it.
		if r.inflight[secret] == nil {
			c := r.startLocked(secret)
			r.bg.Add(1)
			go func() {
				defer r.bg.Done()
				<-c.done
			}()
		}
		r.mu.Unlock()
		return cached.authz, cached.token, nil
	}
	c := r.inflight[secret]
	if c == nil {
		c = r.startLocked(secret)
	}
	r.mu.Unlock()

	select {
	case <-c.done:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	if c.err == nil {
		return c.ent.authz, c.ent.token, nil
	}
	if isACLDisabled(c.err) {
		// The servers run without ACLs (a configuration mismatch):
		// they enforce nothing, so neither does the agent, as Consul.
		return AllowAll(), nil, nil
	}
	if !isDown(c.err) {
		return nil, nil, c.err
	}
	return r.down(secret, c.err)
}

// isACLDisabled reports whether the servers answered that ACLs are off.
func isACLDisabled(err error) bool {
	return err != nil && strings.Contains(err.Error(), structs.ErrACLDisabled.Error())
}

// Wait blocks until background refreshes started so far are done (for
// tests and shutdown).
func (r *Resolver) Wait() { r.bg.Wait() }

// down decides for a secret the servers could not be asked about.
func (r *Resolver) down(secret string, err error) (Authorizer, *structs.ACLToken, error) {
	switch r.cfg.DownPolicy {
	case DownAllow:
		r.logger.Warn("ACL servers unreachable, down_policy allow", "error", err)
		return AllowAll(), nil, nil
	case DownExtendCache, DownAsyncCache:
		r.mu.Lock()
		cached := r.cache[secret]
		r.mu.Unlock()
		if cached != nil && !cached.tokenExpired(r.cfg.Now()) {
			r.logger.Warn("ACL servers unreachable, using the cached token", "down_policy", r.cfg.DownPolicy, "error", err)
			return cached.authz, cached.token, nil
		}
	}
	r.logger.Warn("ACL servers unreachable, denying", "down_policy", r.cfg.DownPolicy, "error", err)
	return DenyAll(), nil, nil
}

// isDown reports whether err means the servers could not answer (as
// opposed to an answer about the token).
func isDown(err error) bool {
	return !errors.Is(err, structs.ErrACLNotFound) && !errors.Is(err, structs.ErrPermissionDenied) &&
		!errors.Is(err, ErrInvalidRules)
}

// startLocked starts the ACL.Resolve call for secret; r.mu is held.
func (r *Resolver) startLocked(secret string) *call {
	c := &call{done: make(chan struct{})}
	r.inflight[secret] = c
	go func() {
		ent, err := r.fetch(secret)
		r.mu.Lock()
		delete(r.inflight, secret)
		switch {
		case err == nil:
			r.storeLocked(secret, ent)
		case !isDown(err):
			// The servers say no: forget what was cached.
			delete(r.cache, secret)
		}
		r.mu.Unlock()
		c.ent, c.err = ent, err
		close(c.done)
	}()
	return c
}

// storeLocked caches ent, evicting the entry expiring first when full.
func (r *Resolver) storeLocked(secret string, ent *entry) {
	if _, ok := r.cache[secret]; !ok && len(r.cache) >= r.cfg.MaxEntries {
		var oldest string
		var at time.Time
		for k, e := range r.cache {
			if oldest == "" || e.expires.Before(at) {
				oldest, at = k, e.expires
			}
		}
		delete(r.cache, oldest)
	}
	r.cache[secret] = ent
}

// fetch asks the servers about secret and builds its authorizer.
func (r *Resolver) fetch(secret string) (*entry, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.RPCTimeout)
	defer cancel()
	args := &structs.ACLResolveRequest{SecretID: secret}
	args.Token = secret
	// Any server's replica answers (as Consul resolves tokens from local
	// state), so a resolve needs no leader round trip.
	args.AllowStale = true
	var reply structs.ACLResolveResponse
	if err := r.cfg.RPC(ctx, structs.MethodACLResolve, args, &reply); err != nil {
		return nil, err
	}
	tok := reply.Token
	now := r.cfg.Now()
	if tok == nil {
		return nil, structs.ErrACLNotFound
	}
	if tok.ExpirationTime != nil && !now.Before(*tok.ExpirationTime) {
		return nil, structs.ErrACLNotFound
	}
	authz, err := r.build(tok, reply.Policies, reply.Roles)
	if err != nil {
		return nil, err
	}
	ent := &entry{authz: authz, token: tok, expires: now.Add(r.ttl)}
	if tok.ExpirationTime != nil && tok.ExpirationTime.Before(ent.expires) {
		ent.expires = *tok.ExpirationTime
	}
	return ent, nil
}

// build makes the authorizer of tok from the policies and roles the
// servers sent along: the token's policies, its roles' policies, the
// identities of both, over the default policy; global-management makes it
// a management token.
func (r *Resolver) build(tok *structs.ACLToken, policies []*structs.ACLPolicy, roles []*structs.ACLRole) (Authorizer, error) {
	byID := map[string]*structs.ACLPolicy{}
	byName := map[string]*structs.ACLPolicy{}
	for _, p := range policies {
		if p != nil {
			byID[p.ID], byName[p.Name] = p, p
		}
	}
	rolesByID := map[string]*structs.ACLRole{}
	rolesByName := map[string]*structs.ACLRole{}
	for _, ro := range roles {
		if ro != nil {
			rolesByID[ro.ID], rolesByName[ro.Name] = ro, ro
		}
	}
	links := slices.Clone(tok.Policies)
	svcIDs := slices.Clone(tok.ServiceIdentities)
	nodeIDs := slices.Clone(tok.NodeIdentities)
	for _, l := range tok.Roles {
		if l == nil {
			continue
		}
		ro := rolesByID[l.ID]
		if ro == nil && l.ID == "" {
			ro = rolesByName[l.Name]
		}
		if ro == nil {
			continue // a deleted role grants nothing
		}
		links = append(links, ro.Policies...)
		svcIDs = append(svcIDs, ro.ServiceIdentities...)
		nodeIDs = append(nodeIDs, ro.NodeIdentities...)
	}
	var parsed []*Policy
	seen := map[string]bool{}
	for _, l := range links {
		if l == nil {
			continue
		}
		if l.ID == structs.ACLPolicyGlobalManagementID || (l.ID == "" && l.Name == structs.ACLPolicyGlobalManagementName) {
			return ManageAll(), nil
		}
		p := byID[l.ID]
		if p == nil && l.ID == "" {
			p = byName[l.Name]
		}
		if p == nil || seen[p.ID] || !r.inDC(p.Datacenters) {
			continue // deleted, repeated, or not for this datacenter
		}
		seen[p.ID] = true
		pp, err := ParsePolicy(p.Rules)
		if err != nil {
			return nil, fmt.Errorf("policy %q: %w", p.Name, err)
		}
		parsed = append(parsed, pp)
	}
	for _, si := range svcIDs {
		if si != nil && r.inDC(si.Datacenters) {
			parsed = append(parsed, ServiceIdentityPolicy(si.ServiceName))
		}
	}
	for _, ni := range nodeIDs {
		if ni != nil && (ni.Datacenter == "" || r.cfg.Datacenter == "" || ni.Datacenter == r.cfg.Datacenter) {
			parsed = append(parsed, NodeIdentityPolicy(ni.NodeName))
		}
	}
	return NewAuthorizer(r.cfg.DefaultPolicy == "allow", parsed...), nil
}

// inDC reports whether a datacenter list (empty = all) includes ours.
func (r *Resolver) inDC(dcs []string) bool {
	return len(dcs) == 0 || r.cfg.Datacenter == "" || slices.Contains(dcs, r.cfg.Datacenter)
}

// recovery is the agent recovery token's authorizer: agent write on this
// node and read on every node, nothing else (as Consul).
func (r *Resolver) recovery() Authorizer {
	return NewAuthorizer(false, &Policy{Rules: []Rule{
		{Resource: ResourceAgent, Name: r.cfg.NodeName, Policy: PolicyWrite},
		{Resource: ResourceNode, Prefix: true, Policy: PolicyRead},
	}})
}

// Flush forgets every cached secret (after the agent's tokens change, for
// instance).
func (r *Resolver) Flush() {
	r.mu.Lock()
	clear(r.cache)
	r.mu.Unlock()
}
