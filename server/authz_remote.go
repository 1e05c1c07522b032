package server

import (
	"context"
	"sync"
	"time"

	"consulate/acl"
	"consulate/structs"
)

// remoteTokenTTL is how long a secondary keeps a global token it resolved
// at the primary (Consul's token_ttl default).
const remoteTokenTTL = 30 * time.Second

// remoteResolveTimeout bounds one resolve at the primary.
const remoteResolveTimeout = 2 * time.Second

// remoteAuthzCache holds the global tokens a secondary without token
// replication resolved at the primary.
type remoteAuthzCache struct {
	mu      sync.Mutex
	entries map[string]remoteAuthzEntry
}

type remoteAuthzEntry struct {
	z       *authz // nil: the primary does not know the secret
	fetched time.Time
}

// resolvesRemotely tells whether secrets unknown here are asked of the
// primary: in a secondary that does not replicate tokens, global tokens
// exist only there (as in Consul, which resolves them remotely).
func (s *Server) resolvesRemotely() bool {
	return !s.inPrimaryDC() && !s.cfg.ACLTokenReplication && s.forwarder != nil
}

// remoteAuthz resolves secret at the primary (ACL.Resolve), caching the
// answer for remoteTokenTTL. When the primary cannot be reached an earlier
// answer is kept however old (extend-cache); with none the secret is
// unknown.
func (s *Server) remoteAuthz(secret string) (*authz, error) {
	c := &s.remoteTokens
	now := time.Now()
	c.mu.Lock()
	e, cached := c.entries[secret]
	c.mu.Unlock()
	if cached && now.Sub(e.fetched) < remoteTokenTTL {
		return e.found()
	}
	ctx, cancel := context.WithTimeout(s.shutdownCtx, remoteResolveTimeout)
	defer cancel()
	args := &structs.ACLResolveRequest{Datacenter: s.primaryDC(), SecretID: secret}
	args.Token, args.AllowStale = secret, true
	var reply structs.ACLResolveResponse
	err := s.forwarder.ForwardDC(ctx, structs.Datacenter(s.primaryDC()), structs.MethodACLResolve, args, &reply)
	if err != nil {
		if cached {
			return e.found()
		}
		return nil, structs.ErrACLNotFound
	}
	e = remoteAuthzEntry{fetched: now}
	if reply.Token != nil && (reply.Token.ExpirationTime == nil || reply.Token.ExpirationTime.After(now)) {
		if e.z, err = s.authzFromResolve(&reply); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= maxAuthzCache {
		c.entries = map[string]remoteAuthzEntry{}
	}
	c.entries[secret] = e
	c.mu.Unlock()
	return e.found()
}

func (e remoteAuthzEntry) found() (*authz, error) {
	if e.z == nil {
		return nil, structs.ErrACLNotFound
	}
	return e.z, nil
}

// authzFromResolve builds the authorizer of a token the primary resolved,
// with its policies (those of its roles included) and identities.
func (s *Server) authzFromResolve(r *structs.ACLResolveResponse) (*authz, error) {
	t := r.Token
	var policies []*acl.Policy
	for _, p := range r.Policies {
		if p == nil {
			continue
		}
		if p.ID == structs.ACLPolicyGlobalManagementID {
			return newAuthz(acl.ManageAll(), t.AccessorID), nil
		}
		if len(p.Datacenters) > 0 && !contains(p.Datacenters, s.cfg.Datacenter) {
			continue
		}
		pp, err := acl.ParsePolicy(p.Rules)
		if err != nil {
			return nil, err
		}
		policies = append(policies, pp)
	}
	services := append([]*structs.ACLServiceIdentity{}, t.ServiceIdentities...)
	nodes := append([]*structs.ACLNodeIdentity{}, t.NodeIdentities...)
	for _, role := range r.Roles {
		if role != nil {
			services = append(services, role.ServiceIdentities...)
			nodes = append(nodes, role.NodeIdentities...)
		}
	}
	for _, si := range services {
		if si != nil && (len(si.Datacenters) == 0 || contains(si.Datacenters, s.cfg.Datacenter)) {
			policies = append(policies, acl.ServiceIdentityPolicy(si.ServiceName))
		}
	}
	for _, ni := range nodes {
		if ni != nil && (ni.Datacenter == "" || ni.Datacenter == s.cfg.Datacenter) {
			policies = append(policies, acl.NodeIdentityPolicy(ni.NodeName))
		}
	}
	return newAuthz(acl.NewAuthorizer(s.defaultAllow(), policies...), t.AccessorID), nil
}
