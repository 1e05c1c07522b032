package server

// Enforcement of ACLs on the server's endpoints. A handler resolves the
// caller's secret once (s.authorizer) from this server's own state (in a
// secondary datacenter, the replica) and either checks a right at its top
// (a refusal is an *acl.PermissionDeniedError, errors.Is
// structs.ErrPermissionDenied) or filters what it read, setting
// QueryMeta.ResultsFilteredByACLs when it dropped something. The check
// runs where the handler runs: after the forwarding decisions, so a
// request forwarded to the leader or to another datacenter is checked
// there, with the token it carries. With ACLs off s.authorizer answers a
// nil *authz, which allows everything at no cost.

import (
	"errors"
	"maps"
	"sync"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"consulate/acl"
	"consulate/catalog"
	"consulate/structs"
)

// authz is a resolved caller. A nil *authz (ACLs off) allows everything.
type authz struct {
	a acl.Authorizer
	// accessor names the token in refusals.
	accessor string
	// readAllNodes and readAllServices cache AllowPrefix("", read) for the
	// hot read paths: when both hold, results are not filtered row by row.
	readAllNodes, readAllServices bool
	// aclWrite is the management right (Consul's ACLWrite): it sees
	// unnamed prepared queries and their tokens.
	aclWrite bool
}

func newAuthz(a acl.Authorizer, accessor string) *authz {
	return &authz{
		a: a, accessor: accessor,
		readAllNodes:    a.AllowPrefix(acl.ResourceNode, "", acl.AccessRead),
		readAllServices: a.AllowPrefix(acl.ResourceService, "", acl.AccessRead),
		aclWrite:        a.Allow(acl.ResourceACL, "", acl.AccessWrite),
	}
}

// check returns nil when the caller may do access to name of r, else a
// *acl.PermissionDeniedError.
func (z *authz) check(r acl.Resource, name string, access acl.Access) error {
	if z == nil {
		return nil
	}
	return acl.Check(z.a, z.accessor, r, name, access)
}

// nodeRead and serviceRead are the read checks of catalog filtering; a
// service name "" (a node-level check) is always readable.
func (z *authz) nodeRead(node string) bool {
	return z == nil || z.readAllNodes || z.a.Allow(acl.ResourceNode, node, acl.AccessRead)
}

func (z *authz) serviceRead(service string) bool {
	return z == nil || service == "" || z.readAllServices || z.a.Allow(acl.ResourceService, service, acl.AccessRead)
}

// readsAll reports whether nothing of the catalog is hidden from the
// caller (no filtering needed).
func (z *authz) readsAll() bool {
	return z == nil || (z.readAllNodes && z.readAllServices)
}

// isManagement reports whether the caller holds acl:write.
func (z *authz) isManagement() bool { return z == nil || z.aclWrite }

// internalAuthz is the authorizer of the server's own calls.
var internalAuthz = newAuthz(acl.ManageAll(), "")

// authzCache keeps resolved secrets and parsed policies. A resolved
// secret is valid while its token's row is unchanged (a memdb watch on it)
// and the generation it was made in is current: a generation ends when any
// policy or role changes (watches on both tables) or the store is replaced
// (snapshot restore). Checking costs a few non-blocking channel reads and
// no allocation.
type authzCache struct {
	mu  sync.Mutex
	gen *authzGen
	// bySecret holds resolved tokens of gen.
	bySecret map[string]*cachedAuthz
	// policies holds parsed policies by ID, checked against ModifyIndex;
	// it survives generations.
	policies map[string]cachedPolicy
}

// authzGen is one state of the policy and role tables of one store.
type authzGen struct {
	store           *catalog.Store
	policies, roles <-chan struct{}
}

func (g *authzGen) current(st *catalog.Store) bool {
	return g != nil && g.store == st && !closed(g.policies) && !closed(g.roles)
}

type cachedAuthz struct {
	z   *authz
	gen *authzGen
	// token fires when the token's row changes.
	token <-chan struct{}
	// expires is the token's ExpirationTime (zero: never).
	expires time.Time
}

type cachedPolicy struct {
	modifyIndex uint64
	p           *acl.Policy
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// watchOne returns the single channel of a watch set holding one (nil
// when it holds none).
func watchOne(ws memdb.WatchSet) <-chan struct{} {
	for ch := range ws {
		return ch
	}
	return nil
}

// maxAuthzCache bounds the caches; past it a cache is dropped and
// refilled.
const maxAuthzCache = 4096

// authorizer resolves secret with this server's state: nil when ACLs are
// off; for "" the anonymous token; structs.ErrACLNotFound for an unknown or
// expired secret.
func (s *Server) authorizer(secret string) (*authz, error) {
	if !s.cfg.ACLsEnabled {
		return nil, nil
	}
	if secret == "" {
		secret = structs.ACLTokenAnonymousSecret
	} else if secret == s.internalSecret {
		return internalAuthz, nil
	}
	st := s.fsm.State()
	c := &s.authzCache
	now := time.Now()
	c.mu.Lock()
	if !c.gen.current(st) {
		c.gen, c.bySecret = nil, nil
	}
	gen := c.gen
	e := c.bySecret[secret]
	c.mu.Unlock()
	if e != nil && e.gen == gen && !closed(e.token) {
		if !e.expires.IsZero() && !e.expires.After(now) {
			return nil, structs.ErrACLNotFound
		}
		return e.z, nil
	}
	if gen == nil {
		// Watch the policy and role tables before reading them.
		ws := memdb.NewWatchSet()
		if _, _, err := st.ACLPolicyList(ws); err != nil {
			return nil, err
		}
		pch := watchOne(ws)
		ws = memdb.NewWatchSet()
		if _, _, err := st.ACLRoleList(ws, ""); err != nil {
			return nil, err
		}
		gen = &authzGen{store: st, policies: pch, roles: watchOne(ws)}
		c.mu.Lock()
		if c.gen == nil {
			c.gen = gen
		}
		c.mu.Unlock()
	}
	z, tokenCh, expires, err := s.resolveSecret(st, secret, now)
	if errors.Is(err, structs.ErrACLNotFound) && secret != structs.ACLTokenAnonymousSecret && s.resolvesRemotely() {
		return s.remoteAuthz(secret)
	}
	if err != nil {
		return nil, err
	}
	if tokenCh == nil {
		return z, nil
	}
	c.mu.Lock()
	if c.gen == gen {
		if c.bySecret == nil || len(c.bySecret) >= maxAuthzCache {
			c.bySecret = map[string]*cachedAuthz{}
		}
		c.bySecret[secret] = &cachedAuthz{z: z, gen: gen, token: tokenCh, expires: expires}
	}
	c.mu.Unlock()
	return z, nil
}

// defaultAllow is acl.default_policy.
func (s *Server) defaultAllow() bool { return s.cfg.ACLDefaultPolicy != "deny" }

// resolveSecret builds the authorizer of one secret from st.
// It also returns a channel that fires when the token's row changes and
// the token's expiration time.
func (s *Server) resolveSecret(st *catalog.Store, secret string, now time.Time) (*authz, <-chan struct{}, time.Time, error) {
	var expires time.Time
	ws := memdb.NewWatchSet()
	_, t, err := st.ACLTokenGetBySecret(ws, secret)
	if err != nil {
		return nil, nil, expires, err
	}
	tokenCh := watchOne(ws)
	if t == nil {
		if secret == structs.ACLTokenAnonymousSecret {
			// Not created (or not replicated) yet: the default policy.
			return newAuthz(acl.NewAuthorizer(s.defaultAllow()), structs.ACLTokenAnonymousID), tokenCh, expires, nil
		}
		return nil, nil, expires, structs.ErrACLNotFound
	}
	if t.ExpirationTime != nil && !t.ExpirationTime.IsZero() {
		expires = *t.ExpirationTime
		if !expires.After(now) {
			return nil, nil, expires, structs.ErrACLNotFound
		}
	}
	policyIDs := make([]string, 0, len(t.Policies))
	for _, l := range t.Policies {
		policyIDs = append(policyIDs, l.ID)
	}
	services := append([]*structs.ACLServiceIdentity{}, t.ServiceIdentities...)
	nodes := append([]*structs.ACLNodeIdentity{}, t.NodeIdentities...)
	for _, l := range t.Roles {
		_, r, err := st.ACLRoleGetByID(nil, l.ID)
		if err != nil {
			return nil, nil, expires, err
		}
		if r == nil {
			continue
		}
		for _, pl := range r.Policies {
			policyIDs = append(policyIDs, pl.ID)
		}
		services = append(services, r.ServiceIdentities...)
		nodes = append(nodes, r.NodeIdentities...)
	}
	var policies []*acl.Policy
	seen := map[string]bool{}
	for _, id := range policyIDs {
		if seen[id] {
			continue
		}
		seen[id] = true
		if id == structs.ACLPolicyGlobalManagementID {
			return newAuthz(acl.ManageAll(), t.AccessorID), tokenCh, expires, nil
		}
		p, err := s.parsedPolicy(st, id)
		if err != nil {
			return nil, nil, expires, err
		}
		if p != nil {
			policies = append(policies, p)
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
	return newAuthz(acl.NewAuthorizer(s.defaultAllow(), policies...), t.AccessorID), tokenCh, expires, nil
}

// parsedPolicy returns policy id parsed (nil when it does not exist or
// does not apply in this datacenter), from the cache when its ModifyIndex
// has not moved.
func (s *Server) parsedPolicy(st *catalog.Store, id string) (*acl.Policy, error) {
	_, p, err := st.ACLPolicyGetByID(nil, id)
	if err != nil || p == nil {
		return nil, err
	}
	if len(p.Datacenters) > 0 && !contains(p.Datacenters, s.cfg.Datacenter) {
		return nil, nil
	}
	c := &s.authzCache
	c.mu.Lock()
	cp, ok := c.policies[id]
	c.mu.Unlock()
	if ok && cp.modifyIndex == p.ModifyIndex {
		return cp.p, nil
	}
	parsed, err := acl.ParsePolicy(p.Rules)
	if err != nil {
		// Rules are checked when written; a bad one grants nothing.
		s.logger.Warn("ACL policy rules do not parse", "policy", p.Name, "error", err)
		return nil, nil
	}
	c.mu.Lock()
	if c.policies == nil || len(c.policies) >= maxAuthzCache {
		c.policies = map[string]cachedPolicy{}
	}
	c.policies[id] = cachedPolicy{modifyIndex: p.ModifyIndex, p: parsed}
	c.mu.Unlock()
	return parsed, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// --- filters ---

// filterNodes drops nodes the caller may not read; it reports whether it
// dropped any.
func (z *authz) filterNodes(in structs.Nodes) (structs.Nodes, bool) {
	if z == nil || z.readAllNodes {
		return in, false
	}
	out := in[:0:0]
	for _, n := range in {
		if z.nodeRead(n.Node) {
			out = append(out, n)
		}
	}
	return out, len(out) != len(in)
}

func (z *authz) filterServiceNodes(in structs.ServiceNodes) (structs.ServiceNodes, bool) {
	if z.readsAll() {
		return in, false
	}
	out := in[:0:0]
	for _, n := range in {
		if z.nodeRead(n.Node) && z.serviceRead(n.ServiceName) {
			out = append(out, n)
		}
	}
	return out, len(out) != len(in)
}

func (z *authz) filterCheckServiceNodes(in structs.CheckServiceNodes) (structs.CheckServiceNodes, bool) {
	if z.readsAll() {
		return in, false
	}
	out := in[:0:0]
	for _, n := range in {
		if n.Node != nil && n.Service != nil && z.nodeRead(n.Node.Node) && z.serviceRead(n.Service.Service) {
			out = append(out, n)
		}
	}
	return out, len(out) != len(in)
}

func (z *authz) filterChecks(in structs.HealthChecks) (structs.HealthChecks, bool) {
	if z.readsAll() {
		return in, false
	}
	out := in[:0:0]
	for _, c := range in {
		if z.nodeRead(c.Node) && z.serviceRead(c.ServiceName) {
			out = append(out, c)
		}
	}
	return out, len(out) != len(in)
}

func (z *authz) filterServices(in map[string][]string) (map[string][]string, bool) {
	if z == nil || z.readAllServices {
		return in, false
	}
	out := make(map[string][]string, len(in))
	for name, tags := range in {
		if z.serviceRead(name) {
			out[name] = tags
		}
	}
	return out, len(out) != len(in)
}

// filterNodeServices hides a node the caller may not read (nil) and the
// services on it it may not read.
func (z *authz) filterNodeServices(ns *structs.NodeServices) (*structs.NodeServices, bool) {
	if z.readsAll() || ns == nil {
		return ns, false
	}
	if ns.Node == nil || !z.nodeRead(ns.Node.Node) {
		return nil, true
	}
	filtered := false
	svcs := make(map[string]*structs.NodeService, len(ns.Services))
	for id, svc := range ns.Services {
		if z.serviceRead(svc.Service) {
			svcs[id] = svc
		} else {
			filtered = true
		}
	}
	if !filtered {
		return ns, false
	}
	cp := *ns
	cp.Services = svcs
	return &cp, true
}

func (z *authz) filterCoordinates(in structs.Coordinates) (structs.Coordinates, bool) {
	if z == nil || z.readAllNodes {
		return in, false
	}
	out := in[:0:0]
	for _, c := range in {
		if z.nodeRead(c.Node) {
			out = append(out, c)
		}
	}
	return out, len(out) != len(in)
}

// filterSessions keeps the sessions whose node the caller may session:read.
func (z *authz) filterSessions(in structs.Sessions) (structs.Sessions, bool) {
	if z == nil || z.a.AllowPrefix(acl.ResourceSession, "", acl.AccessRead) {
		return in, false
	}
	out := in[:0:0]
	for _, sess := range in {
		if z.a.Allow(acl.ResourceSession, sess.Node, acl.AccessRead) {
			out = append(out, sess)
		}
	}
	return out, len(out) != len(in)
}

// filterDirEntries keeps the entries the caller may key:read under prefix.
func (z *authz) filterDirEntries(prefix string, in structs.DirEntries) (structs.DirEntries, bool) {
	if z == nil || z.a.AllowPrefix(acl.ResourceKey, prefix, acl.AccessRead) {
		return in, false
	}
	out := in[:0:0]
	for _, e := range in {
		if z.a.Allow(acl.ResourceKey, e.Key, acl.AccessRead) {
			out = append(out, e)
		}
	}
	return out, len(out) != len(in)
}

func (z *authz) filterKeys(prefix string, in []string) ([]string, bool) {
	if z == nil || z.a.AllowPrefix(acl.ResourceKey, prefix, acl.AccessRead) {
		return in, false
	}
	out := in[:0:0]
	for _, k := range in {
		if z.a.Allow(acl.ResourceKey, k, acl.AccessRead) {
			out = append(out, k)
		}
	}
	return out, len(out) != len(in)
}

// --- checks shared by endpoints ---

// checkToken resolves secret and checks one right.
func (s *Server) checkToken(secret string, r acl.Resource, name string, access acl.Access) error {
	z, err := s.authorizer(secret)
	if err != nil {
		return err
	}
	return z.check(r, name, access)
}

// kvPreApply checks a KV operation as Consul's kvsPreApply: delete-tree
// needs write on every key under the prefix, the checks read, reads
// nothing here (their results are filtered), the rest write.
func (z *authz) kvPreApply(op structs.KVOp, key string) error {
	if z == nil {
		return nil
	}
	switch op {
	case structs.KVDeleteTree:
		if !z.a.AllowPrefix(acl.ResourceKey, key, acl.AccessWrite) {
			return &acl.PermissionDeniedError{Accessor: z.accessor, Resource: acl.ResourceKey, Access: acl.AccessWrite, Name: key}
		}
		return nil
	case structs.KVGet, structs.KVGetOrEmpty, structs.KVGetTree:
		return nil
	case structs.KVCheckSession, structs.KVCheckIndex, structs.KVCheckNotExists:
		return z.check(acl.ResourceKey, key, acl.AccessRead)
	}
	return z.check(acl.ResourceKey, key, acl.AccessWrite)
}

// kvListAuthz resolves the caller of a KV list; with
// ACLEnableKeyListPolicy it must hold key:list on the prefix.
func (s *Server) kvListAuthz(secret, prefix string) (*authz, error) {
	z, err := s.authorizer(secret)
	if err != nil {
		return nil, err
	}
	if s.cfg.ACLEnableKeyListPolicy {
		if err := z.check(acl.ResourceKey, prefix, acl.AccessList); err != nil {
			return nil, err
		}
	}
	return z, nil
}

// txnPreCheck checks every operation of a transaction as Consul's Txn
// endpoint: KV as kvsPreApply, catalog writes need node:write (a node,
// a node-level check) or service:write (a service, a service's check),
// catalog gets nothing here (their results are filtered), a session
// delete session:write on the session's node. The refused ones are the
// transaction's errors (it is not applied). st finds the node of a
// session being deleted.
func (z *authz) txnPreCheck(st *catalog.Store, ops []*structs.TxnOp) []*structs.TxnError {
	var out []*structs.TxnError
	for i, op := range ops {
		var err error
		switch {
		case op == nil:
			continue
		case op.KV != nil:
			err = z.kvPreApply(op.KV.Verb, op.KV.DirEnt.Key)
		case op.Node != nil:
			if op.Node.Verb == structs.TxnGet {
				continue
			}
			if op.Node.Node.Node == "" {
				err = badRequest("Must provide node")
				break
			}
			err = z.check(acl.ResourceNode, op.Node.Node.Node, acl.AccessWrite)
		case op.Service != nil:
			if op.Service.Verb == structs.TxnGet {
				continue
			}
			svc := &op.Service.Service
			if svc.Service == "" {
				err = badRequest("Must provide service name with ID")
				break
			}
			err = z.check(acl.ResourceService, svc.Service, acl.AccessWrite)
			if err == nil {
				// The instance the operation replaces or deletes is
				// found by (node, ID): its stored name needs the right
				// too, whatever name the caller sent.
				id := svc.ID
				if id == "" {
					id = svc.Service
				}
				err = z.txnStoredService(st, op.Service.Node, id)
			}
		case op.Check != nil:
			if op.Check.Verb == structs.TxnGet {
				continue
			}
			c := &op.Check.Check
			if c.ServiceID == "" {
				err = z.check(acl.ResourceNode, c.Node, acl.AccessWrite)
			} else {
				err = z.check(acl.ResourceService, c.ServiceName, acl.AccessWrite)
				if err == nil {
					// The store attaches the check to the service stored
					// under ServiceID, whatever name the caller sent.
					err = z.txnStoredService(st, c.Node, c.ServiceID)
				}
			}
			if err == nil {
				err = z.txnStoredCheck(st, c.Node, c.CheckID)
			}
		case op.Session != nil:
			if z == nil || st == nil {
				continue
			}
			_, sess, gerr := st.SessionGet(nil, op.Session.Session.ID)
			switch {
			case gerr != nil:
				err = gerr
			case sess != nil:
				err = z.check(acl.ResourceSession, sess.Node, acl.AccessWrite)
			}
		}
		if err != nil {
			out = append(out, &structs.TxnError{OpIndex: i, What: err.Error()})
		}
	}
	return out
}

// txnStoredService requires service:write on the name of the service
// stored on node under id, when there is one.
func (z *authz) txnStoredService(st *catalog.Store, node, id string) error {
	if z == nil || st == nil || node == "" || id == "" {
		return nil
	}
	_, ns, err := st.NodeServices(nil, node)
	if err != nil || ns == nil {
		return err
	}
	if cur, ok := ns.Services[id]; ok {
		return z.check(acl.ResourceService, cur.Service, acl.AccessWrite)
	}
	return nil
}

// txnStoredCheck requires the write right on what the check stored on
// node under id belongs to, when there is one: node:write for a
// node-level check, service:write on its service's name otherwise.
func (z *authz) txnStoredCheck(st *catalog.Store, node string, id string) error {
	if z == nil || st == nil || node == "" || id == "" {
		return nil
	}
	_, checks, err := st.NodeChecks(nil, node)
	if err != nil {
		return err
	}
	for _, cur := range checks {
		if cur.CheckID != id {
			continue
		}
		if cur.ServiceID == "" {
			return z.check(acl.ResourceNode, cur.Node, acl.AccessWrite)
		}
		return z.check(acl.ResourceService, cur.ServiceName, acl.AccessWrite)
	}
	return nil
}

// filterTxnResults drops the results the caller may not read: keys by
// key:read, nodes by node:read, services by service:read, checks by the
// read right of their service (node-level checks: of their node).
func (z *authz) filterTxnResults(r *structs.TxnResponse) {
	if z == nil {
		return
	}
	out := r.Results[:0:0]
	for _, res := range r.Results {
		switch {
		case res == nil:
			continue
		case res.KV != nil && !z.a.Allow(acl.ResourceKey, res.KV.Key, acl.AccessRead):
			continue
		case res.Node != nil && !z.nodeRead(res.Node.Node):
			continue
		case res.Service != nil && !z.serviceRead(res.Service.Service):
			continue
		case res.Check != nil && res.Check.ServiceName != "" && !z.serviceRead(res.Check.ServiceName):
			continue
		case res.Check != nil && res.Check.ServiceName == "" && !z.nodeRead(res.Check.Node):
			continue
		}
		out = append(out, res)
	}
	r.Results = out
}

// vetRegister checks a catalog registration as Consul: node:write when
// the node does not exist (the registration creates it, SkipNodeUpdate
// or not) or when it changes the node (never with SkipNodeUpdate, which
// leaves an existing node alone), service:write on the service, and on
// each check the write right of its service (or of the node for a node
// check).
func (s *Server) vetRegister(args *structs.RegisterRequest, checks structs.HealthChecks) error {
	z, err := s.authorizer(args.Token)
	if err != nil || z == nil {
		return err
	}
	st := s.State()
	_, n, err := st.GetNode(nil, args.Node)
	if err != nil {
		return err
	}
	if n == nil || (!args.SkipNodeUpdate && registerChangesNode(args, n)) {
		if err := z.check(acl.ResourceNode, args.Node, acl.AccessWrite); err != nil {
			return err
		}
	}
	var existing *structs.NodeServices
	if args.Service != nil {
		if err := z.check(acl.ResourceService, args.Service.Service, acl.AccessWrite); err != nil {
			return err
		}
		// Re-registering an ID under another name also needs write on
		// the service it replaces (as Consul), or a token for "web"
		// could take over "db".
		if _, existing, err = st.NodeServices(nil, args.Node); err != nil {
			return err
		}
		if existing != nil {
			if old := existing.Services[args.Service.ID]; old != nil && old.Service != args.Service.Service {
				if err := z.check(acl.ResourceService, old.Service, acl.AccessWrite); err != nil {
					return err
				}
			}
		}
	}
	for _, c := range checks {
		if c.ServiceID == "" {
			if err := z.check(acl.ResourceNode, args.Node, acl.AccessWrite); err != nil {
				return err
			}
			continue
		}
		name := ""
		if args.Service != nil && args.Service.ID == c.ServiceID {
			name = args.Service.Service
		} else {
			if existing == nil {
				if _, existing, err = st.NodeServices(nil, args.Node); err != nil {
					return err
				}
			}
			if existing != nil && existing.Services[c.ServiceID] != nil {
				name = existing.Services[c.ServiceID].Service
			}
		}
		if name == "" {
			// Unknown service: the store refuses it; the node's right
			// decides meanwhile.
			if err := z.check(acl.ResourceNode, args.Node, acl.AccessWrite); err != nil {
				return err
			}
			continue
		}
		if err := z.check(acl.ResourceService, name, acl.AccessWrite); err != nil {
			return err
		}
	}
	return nil
}

// registerChangesNode reports whether a registration changes the stored
// node (Consul's ChangesNode).
func registerChangesNode(args *structs.RegisterRequest, n *structs.Node) bool {
	return (args.ID != "" && args.ID != n.ID) || args.Address != n.Address ||
		!maps.Equal(args.TaggedAddresses, n.TaggedAddresses) || !maps.Equal(args.NodeMeta, n.Meta)
}

// vetDeregister checks a deregistration: service:write on the service,
// the check's service (or node) write for a check, node:write for a node.
func (s *Server) vetDeregister(args *structs.DeregisterRequest) error {
	z, err := s.authorizer(args.Token)
	if err != nil || z == nil {
		return err
	}
	// Node write covers everything on the node (as Consul), so an agent
	// can clean up services it no longer holds a service token for.
	if z.check(acl.ResourceNode, args.Node, acl.AccessWrite) == nil {
		return nil
	}
	st := s.State()
	switch {
	case args.ServiceID != "":
		_, ns, err := st.NodeServices(nil, args.Node)
		if err != nil {
			return err
		}
		if ns != nil && ns.Services[args.ServiceID] != nil {
			return z.check(acl.ResourceService, ns.Services[args.ServiceID].Service, acl.AccessWrite)
		}
		return z.check(acl.ResourceNode, args.Node, acl.AccessWrite)
	case args.CheckID != "":
		_, checks, err := st.NodeChecks(nil, args.Node)
		if err != nil {
			return err
		}
		for _, c := range checks {
			if c.CheckID == args.CheckID && c.ServiceID != "" {
				return z.check(acl.ResourceService, c.ServiceName, acl.AccessWrite)
			}
		}
	}
	return z.check(acl.ResourceNode, args.Node, acl.AccessWrite)
}

// redactedToken replaces a prepared query's token for callers without
// acl:write, as Consul.
const redactedToken = "<hidden>"

// queryPrefix is the name ACL rules govern a prepared query by (its name;
// a template's name is a prefix); unnamed queries have none.
func queryPrefix(q *structs.PreparedQuery) (string, bool) {
	return q.Name, q.Name != ""
}

// filterQueries keeps the prepared queries the caller may read (unnamed
// ones only for management) and hides their tokens from all but
// management.
func (z *authz) filterQueries(in structs.PreparedQueries) (structs.PreparedQueries, bool) {
	if z == nil {
		return in, false
	}
	out := make(structs.PreparedQueries, 0, len(in))
	for _, q := range in {
		if !z.aclWrite {
			prefix, ok := queryPrefix(q)
			if !ok || !z.a.Allow(acl.ResourceQuery, prefix, acl.AccessRead) {
				continue
			}
		}
		cp := *q
		if !z.aclWrite && cp.Token != "" {
			cp.Token = redactedToken
		}
		out = append(out, &cp)
	}
	return out, len(out) != len(in)
}

// watchAuthz adds to ws what the resolution of secret depends on: its
// token's row and the policy and role tables of the current generation,
// and a channel that closes when the token expires (the returned stop
// releases that timer). It adds nothing when ACLs are off or for the
// server's own secret; for a secret with no current entry here (resolved
// at the primary, or the cache moved on since the read) a timer of
// remoteTokenTTL, so the stream resolves it again within that.
func (s *Server) watchAuthz(ws memdb.WatchSet, secret string) (stop func()) {
	stop = func() {}
	if !s.cfg.ACLsEnabled || secret == s.internalSecret {
		return stop
	}
	if secret == "" {
		secret = structs.ACLTokenAnonymousSecret
	}
	c := &s.authzCache
	c.mu.Lock()
	e := c.bySecret[secret]
	current := e != nil && e.gen != nil && e.gen == c.gen
	c.mu.Unlock()
	if !current {
		// Nothing here to watch: resolved at the primary (a secondary
		// without token replication holds that answer remoteTokenTTL),
		// or the cache moved on since the read (evicted, or a policy or
		// role changed meanwhile). Resolve again when such an answer
		// expires, so a revoked token ends the stream within that.
		recheck := make(chan struct{})
		t := time.AfterFunc(remoteTokenTTL, func() { close(recheck) })
		ws.Add(recheck)
		return func() { t.Stop() }
	}
	for _, ch := range []<-chan struct{}{e.token, e.gen.policies, e.gen.roles} {
		if ch != nil {
			ws.Add(ch)
		}
	}
	if !e.expires.IsZero() {
		expired := make(chan struct{})
		t := time.AfterFunc(time.Until(e.expires), func() { close(expired) })
		ws.Add(expired)
		stop = func() { t.Stop() }
	}
	return stop
}
