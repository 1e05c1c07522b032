package catalog

// ACL state: tokens, policies and roles in Raft.
//
// Writes (called by the FSM; idx is the Raft index):
//
//	ACLTokenBatchSet(idx, *ACLTokenBatchSetRequest)     ACLTokenSetType
//	ACLTokenBatchDelete(idx, *ACLTokenBatchDeleteRequest) ACLTokenDeleteType
//	ACLPolicyBatchSet / ACLPolicyBatchDelete             ACLPolicySetType / ACLPolicyDeleteType
//	ACLRoleBatchSet / ACLRoleBatchDelete                 ACLRoleSetType / ACLRoleDeleteType
//	ACLBootstrap(idx, *ACLBootstrapRequest)              ACLBootstrapType
//
// Reads take a memdb.WatchSet (may be nil) and return the table's index
// first, like the rest of the store: ACLTokenGetByAccessor,
// ACLTokenGetBySecret, ACLTokenList, ACLTokenListExpired, ACLPolicyGetByID,
// ACLPolicyGetByName, ACLPolicyList, ACLRoleGetByID, ACLRoleGetByName,
// ACLRoleList, ACLCanBootstrap. Every read returns copies whose policy and
// role links carry the linked object's current name; links to objects
// deleted since are left out (as Consul does).
//
// The store enforces what must hold on every replica: unique policy and
// role names (case-insensitive), unique token secrets, links by name
// resolved to IDs (an unknown name or ID is an *ACLError), the builtin
// global-management policy keeps its rules and cannot be deleted, the
// anonymous token cannot be deleted, a token keeps its SecretID, Local
// flag and expiration time across updates. It fills Hash (sha256 of the
// content), CreateIndex and ModifyIndex. Expiry is not applied by reads
// (they do not know the time): callers drop expired tokens.

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	memdb "github.com/hashicorp/go-memdb"

	"consulate/structs"
)

// ACL table names; each is also the key of its index row.
const (
	tableACLTokens   = "acl-tokens"
	tableACLPolicies = "acl-policies"
	tableACLRoles    = "acl-roles"
	// aclBootstrapIndexKey is the index row holding the Raft index of the
	// last bootstrap (0: never bootstrapped); it is the reset index.
	aclBootstrapIndexKey = "acl-token-bootstrap"
)

// ACLError is a write the ACL state refuses (a name taken, a link to
// nothing, a builtin object protected). Its text is Consul's, meant for
// the caller as is; errors.Is(err, ErrInvalidRequest) holds.
type ACLError struct{ Reason string }

func (e *ACLError) Error() string { return e.Reason }

// Is makes an ACLError match ErrInvalidRequest.
func (e *ACLError) Is(target error) bool { return target == ErrInvalidRequest }

func aclErr(format string, a ...any) error { return &ACLError{Reason: fmt.Sprintf(format, a...)} }

// ACLTokenBatchSetRequest is the ACLTokenSetType log entry: tokens whose
// AccessorID and SecretID the server chose. Policy and role links may name
// objects by Name only; the store resolves them to IDs.
type ACLTokenBatchSetRequest struct {
	Tokens []*structs.ACLToken
	// Create refuses a token whose AccessorID exists already.
	Create bool
	// AllowMissingLinks keeps links (by ID) to policies and roles not
	// stored (yet), for replication.
	AllowMissingLinks bool
}

// ACLTokenBatchDeleteRequest is the ACLTokenDeleteType log entry.
type ACLTokenBatchDeleteRequest struct {
	AccessorIDs []string
}

// ACLPolicyBatchSetRequest is the ACLPolicySetType log entry.
type ACLPolicyBatchSetRequest struct {
	Policies []*structs.ACLPolicy
}

// ACLPolicyBatchDeleteRequest is the ACLPolicyDeleteType log entry.
type ACLPolicyBatchDeleteRequest struct {
	PolicyIDs []string
}

// ACLRoleBatchSetRequest is the ACLRoleSetType log entry.
type ACLRoleBatchSetRequest struct {
	Roles []*structs.ACLRole
	// AllowMissingLinks keeps links (by ID) to policies not stored (yet).
	AllowMissingLinks bool
}

// ACLRoleBatchDeleteRequest is the ACLRoleDeleteType log entry.
type ACLRoleBatchDeleteRequest struct {
	RoleIDs []string
}

// ACLBootstrapRequest is the ACLBootstrapType log entry: the first
// management token. It applies when ACLs were never bootstrapped, or when
// ResetIndex equals the index of the last bootstrap.
type ACLBootstrapRequest struct {
	Token      structs.ACLToken
	ResetIndex uint64
}

// GlobalManagementPolicy returns the builtin global-management policy.
func GlobalManagementPolicy() *structs.ACLPolicy {
	return &structs.ACLPolicy{
		ID:          structs.ACLPolicyGlobalManagementID,
		Name:        structs.ACLPolicyGlobalManagementName,
		Description: "Builtin Policy that grants unlimited access",
		Rules:       structs.ACLPolicyGlobalManagementRules,
	}
}

// AnonymousToken returns the builtin anonymous token.
func AnonymousToken() *structs.ACLToken {
	return &structs.ACLToken{
		AccessorID:  structs.ACLTokenAnonymousID,
		SecretID:    structs.ACLTokenAnonymousSecret,
		Description: "Anonymous Token",
	}
}

// --- indexes ---

// linkIndexer indexes a row under every ID ids returns (a multi index).
type linkIndexer struct{ ids func(obj any) []string }

func (l *linkIndexer) FromObject(obj any) (bool, [][]byte, error) {
	var out [][]byte
	for _, id := range l.ids(obj) {
		if id != "" {
			out = append(out, []byte(id+"\x00"))
		}
	}
	return len(out) > 0, out, nil
}

func (l *linkIndexer) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("link index: one argument, got %d", len(args))
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("link index: argument is %T, want string", args[0])
	}
	return []byte(s + "\x00"), nil
}

func linkIDs(links []*structs.ACLLink) []string {
	out := make([]string, 0, len(links))
	for _, l := range links {
		if l != nil {
			out = append(out, l.ID)
		}
	}
	return out
}

// expirationIndexer orders tokens by ExpirationTime (tokens without one
// are not in the index).
type expirationIndexer struct{}

func encodeTime(t time.Time) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(max(t.UnixNano(), 0)))
	return b
}

func (expirationIndexer) FromObject(obj any) (bool, []byte, error) {
	t, ok := obj.(*structs.ACLToken)
	if !ok || t.ExpirationTime == nil || t.ExpirationTime.IsZero() {
		return false, nil, nil
	}
	return true, encodeTime(*t.ExpirationTime), nil
}

func (expirationIndexer) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("expiration index: one argument, got %d", len(args))
	}
	t, ok := args[0].(time.Time)
	if !ok {
		return nil, fmt.Errorf("expiration index: argument is %T, want time.Time", args[0])
	}
	return encodeTime(t), nil
}

func aclTables() map[string]*memdb.TableSchema {
	return map[string]*memdb.TableSchema{
		tableACLTokens: {Name: tableACLTokens, Indexes: map[string]*memdb.IndexSchema{
			"id":     {Name: "id", Unique: true, Indexer: id("AccessorID", false)},
			"secret": {Name: "secret", Unique: true, Indexer: id("SecretID", false)},
			"policies": {Name: "policies", AllowMissing: true, Indexer: &linkIndexer{ids: func(o any) []string {
				return linkIDs(o.(*structs.ACLToken).Policies)
			}}},
			"roles": {Name: "roles", AllowMissing: true, Indexer: &linkIndexer{ids: func(o any) []string {
				return linkIDs(o.(*structs.ACLToken).Roles)
			}}},
			"local":      {Name: "local", Indexer: &memdb.BoolFieldIndex{Field: "Local"}},
			"expiration": {Name: "expiration", AllowMissing: true, Indexer: expirationIndexer{}},
		}},
		tableACLPolicies: {Name: tableACLPolicies, Indexes: map[string]*memdb.IndexSchema{
			"id":   {Name: "id", Unique: true, Indexer: id("ID", false)},
			"name": {Name: "name", Unique: true, Indexer: id("Name", true)},
		}},
		tableACLRoles: {Name: tableACLRoles, Indexes: map[string]*memdb.IndexSchema{
			"id":   {Name: "id", Unique: true, Indexer: id("ID", false)},
			"name": {Name: "name", Unique: true, Indexer: id("Name", true)},
			"policies": {Name: "policies", AllowMissing: true, Indexer: &linkIndexer{ids: func(o any) []string {
				return linkIDs(o.(*structs.ACLRole).Policies)
			}}},
		}},
	}
}

// --- hashing and copies ---

func contentHash(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(b)
	return sum[:]
}

func tokenHash(t *structs.ACLToken) []byte {
	c := *t
	c.Hash, c.CreateIndex, c.ModifyIndex = nil, 0, 0
	return contentHash(&c)
}

func policyHash(p *structs.ACLPolicy) []byte {
	c := *p
	c.Hash, c.CreateIndex, c.ModifyIndex = nil, 0, 0
	return contentHash(&c)
}

func roleHash(r *structs.ACLRole) []byte {
	c := *r
	c.Hash, c.CreateIndex, c.ModifyIndex = nil, 0, 0
	return contentHash(&c)
}

func copyLinks(in []*structs.ACLLink) []*structs.ACLLink {
	if in == nil {
		return nil
	}
	out := make([]*structs.ACLLink, 0, len(in))
	for _, l := range in {
		if l != nil {
			c := *l
			out = append(out, &c)
		}
	}
	return out
}

func copyServiceIdentities(in []*structs.ACLServiceIdentity) []*structs.ACLServiceIdentity {
	if in == nil {
		return nil
	}
	out := make([]*structs.ACLServiceIdentity, 0, len(in))
	for _, s := range in {
		if s != nil {
			c := *s
			c.Datacenters = slices.Clone(s.Datacenters)
			out = append(out, &c)
		}
	}
	return out
}

func copyNodeIdentities(in []*structs.ACLNodeIdentity) []*structs.ACLNodeIdentity {
	if in == nil {
		return nil
	}
	out := make([]*structs.ACLNodeIdentity, 0, len(in))
	for _, n := range in {
		if n != nil {
			c := *n
			out = append(out, &c)
		}
	}
	return out
}

func copyToken(t *structs.ACLToken) *structs.ACLToken {
	c := *t
	c.Policies, c.Roles = copyLinks(t.Policies), copyLinks(t.Roles)
	c.ServiceIdentities = copyServiceIdentities(t.ServiceIdentities)
	c.NodeIdentities = copyNodeIdentities(t.NodeIdentities)
	if t.ExpirationTime != nil {
		e := *t.ExpirationTime
		c.ExpirationTime = &e
	}
	c.Hash = slices.Clone(t.Hash)
	return &c
}

func copyPolicy(p *structs.ACLPolicy) *structs.ACLPolicy {
	c := *p
	c.Datacenters = slices.Clone(p.Datacenters)
	c.Hash = slices.Clone(p.Hash)
	return &c
}

func copyRole(r *structs.ACLRole) *structs.ACLRole {
	c := *r
	c.Policies = copyLinks(r.Policies)
	c.ServiceIdentities = copyServiceIdentities(r.ServiceIdentities)
	c.NodeIdentities = copyNodeIdentities(r.NodeIdentities)
	c.Hash = slices.Clone(r.Hash)
	return &c
}

// fixLinks returns links with current names, without links to objects no
// longer stored.
func fixLinks(txn *memdb.Txn, table string, links []*structs.ACLLink) []*structs.ACLLink {
	if len(links) == 0 {
		return links
	}
	out := make([]*structs.ACLLink, 0, len(links))
	for _, l := range links {
		raw, err := txn.First(table, "id", l.ID)
		if err != nil || raw == nil {
			continue
		}
		name := ""
		switch o := raw.(type) {
		case *structs.ACLPolicy:
			name = o.Name
		case *structs.ACLRole:
			name = o.Name
		}
		out = append(out, &structs.ACLLink{ID: l.ID, Name: name})
	}
	return out
}

func readToken(txn *memdb.Txn, raw any) *structs.ACLToken {
	t := copyToken(raw.(*structs.ACLToken))
	t.Policies = fixLinks(txn, tableACLPolicies, t.Policies)
	t.Roles = fixLinks(txn, tableACLRoles, t.Roles)
	return t
}

func readRole(txn *memdb.Txn, raw any) *structs.ACLRole {
	r := copyRole(raw.(*structs.ACLRole))
	r.Policies = fixLinks(txn, tableACLPolicies, r.Policies)
	return r
}

// resolveLinks turns links by name into links by ID, checks that linked
// IDs exist (unless allowMissing) and drops duplicates. kind is "policy"
// or "role".
func resolveLinks(txn *memdb.Txn, table, kind string, links []*structs.ACLLink, allowMissing bool) ([]*structs.ACLLink, error) {
	if len(links) == 0 {
		return nil, nil
	}
	seen := map[string]bool{}
	out := make([]*structs.ACLLink, 0, len(links))
	for _, l := range links {
		if l == nil || (l.ID == "" && l.Name == "") {
			return nil, aclErr("ACL %s link needs an ID or a Name", kind)
		}
		var raw any
		var err error
		if l.ID != "" {
			raw, err = txn.First(table, "id", l.ID)
		} else {
			raw, err = txn.First(table, "name", l.Name)
		}
		if err != nil {
			return nil, err
		}
		idv, name := l.ID, l.Name
		switch o := raw.(type) {
		case *structs.ACLPolicy:
			idv, name = o.ID, o.Name
		case *structs.ACLRole:
			idv, name = o.ID, o.Name
		default:
			switch {
			case l.ID == "":
				return nil, aclErr("ACL %s with name %q does not exist", kind, l.Name)
			case !allowMissing:
				return nil, aclErr("ACL %s with ID %q does not exist", kind, l.ID)
			}
		}
		if seen[idv] {
			continue
		}
		seen[idv] = true
		out = append(out, &structs.ACLLink{ID: idv, Name: name})
	}
	return out, nil
}

// --- writes ---

func (s *Store) aclWrite(fn func(txn *memdb.Txn) error) error {
	txn := s.db.Txn(true)
	defer txn.Abort()
	if err := fn(txn); err != nil {
		return err
	}
	txn.Commit()
	return nil
}

// ACLTokenBatchSet creates or updates tokens, all or none.
func (s *Store) ACLTokenBatchSet(idx uint64, req *ACLTokenBatchSetRequest) error {
	if req == nil {
		return fmt.Errorf("%w: nil token batch", ErrInvalidRequest)
	}
	return s.aclWrite(func(txn *memdb.Txn) error {
		for _, t := range req.Tokens {
			if err := aclTokenSetTxn(txn, idx, t, req.Create, req.AllowMissingLinks); err != nil {
				return err
			}
		}
		return bump(txn, idx, tableACLTokens)
	})
}

func aclTokenSetTxn(txn *memdb.Txn, idx uint64, in *structs.ACLToken, create, allowMissing bool) error {
	if in == nil || in.AccessorID == "" || in.SecretID == "" {
		return aclErr("Invalid Token: a token needs an AccessorID and a SecretID")
	}
	t := copyToken(in)
	existing, err := txn.First(tableACLTokens, "id", t.AccessorID)
	if err != nil {
		return err
	}
	if other, err := txn.First(tableACLTokens, "secret", t.SecretID); err != nil {
		return err
	} else if other != nil && other.(*structs.ACLToken).AccessorID != t.AccessorID {
		return aclErr("Invalid Token: SecretID is already in use")
	}
	if existing != nil {
		old := existing.(*structs.ACLToken)
		switch {
		case create:
			return aclErr("Invalid Token: AccessorID is already in use")
		case old.SecretID != t.SecretID:
			return aclErr("Changing a token's SecretID is not permitted")
		case old.Local != t.Local:
			return aclErr("Cannot toggle local mode of %s", t.AccessorID)
		case !sameTime(old.ExpirationTime, t.ExpirationTime):
			return aclErr("Cannot change expiration time of %s", t.AccessorID)
		}
		t.CreateIndex, t.CreateTime = old.CreateIndex, old.CreateTime
	} else {
		t.CreateIndex = idx
	}
	if t.Policies, err = resolveLinks(txn, tableACLPolicies, "policy", t.Policies, allowMissing); err != nil {
		return err
	}
	if t.Roles, err = resolveLinks(txn, tableACLRoles, "role", t.Roles, allowMissing); err != nil {
		return err
	}
	for _, si := range t.ServiceIdentities {
		if si.ServiceName == "" {
			return aclErr("Service identity is missing the service name field on this token")
		}
	}
	for _, ni := range t.NodeIdentities {
		if ni.NodeName == "" || ni.Datacenter == "" {
			return aclErr("Node identity needs a node name and a datacenter")
		}
	}
	t.ModifyIndex = idx
	t.Hash = tokenHash(t)
	return txn.Insert(tableACLTokens, t)
}

func sameTime(a, b *time.Time) bool {
	if a == nil || a.IsZero() {
		return b == nil || b.IsZero()
	}
	return b != nil && a.Equal(*b)
}

// ACLTokenBatchDelete deletes tokens by AccessorID; unknown ones are
// skipped. The anonymous token cannot be deleted.
func (s *Store) ACLTokenBatchDelete(idx uint64, req *ACLTokenBatchDeleteRequest) error {
	if req == nil {
		return fmt.Errorf("%w: nil token batch", ErrInvalidRequest)
	}
	return s.aclWrite(func(txn *memdb.Txn) error {
		for _, aid := range req.AccessorIDs {
			if aid == structs.ACLTokenAnonymousID {
				return aclErr("Deletion of the builtin anonymous token is not permitted")
			}
			raw, err := txn.First(tableACLTokens, "id", aid)
			if err != nil {
				return err
			}
			if raw == nil {
				continue
			}
			if err := txn.Delete(tableACLTokens, raw); err != nil {
				return err
			}
		}
		return bump(txn, idx, tableACLTokens)
	})
}

// ACLPolicyBatchSet creates or updates policies, all or none.
func (s *Store) ACLPolicyBatchSet(idx uint64, req *ACLPolicyBatchSetRequest) error {
	if req == nil {
		return fmt.Errorf("%w: nil policy batch", ErrInvalidRequest)
	}
	return s.aclWrite(func(txn *memdb.Txn) error {
		for _, p := range req.Policies {
			if err := aclPolicySetTxn(txn, idx, p); err != nil {
				return err
			}
		}
		return bump(txn, idx, tableACLPolicies)
	})
}

func aclPolicySetTxn(txn *memdb.Txn, idx uint64, in *structs.ACLPolicy) error {
	if in == nil || in.ID == "" {
		return aclErr("Invalid Policy: missing ID")
	}
	if in.Name == "" {
		return aclErr("Invalid Policy: no Name is set")
	}
	p := copyPolicy(in)
	existing, err := txn.First(tableACLPolicies, "id", p.ID)
	if err != nil {
		return err
	}
	if other, err := txn.First(tableACLPolicies, "name", p.Name); err != nil {
		return err
	} else if other != nil && other.(*structs.ACLPolicy).ID != p.ID {
		return aclErr("Invalid Policy: A Policy with Name %q already exists", p.Name)
	}
	if existing != nil {
		old := existing.(*structs.ACLPolicy)
		if p.ID == structs.ACLPolicyGlobalManagementID {
			if p.Rules != old.Rules {
				return aclErr("Changing the Rules for the builtin global-management policy is not permitted")
			}
			if len(p.Datacenters) > 0 {
				return aclErr("Changing the Datacenters of the builtin global-management policy is not permitted")
			}
		}
		p.CreateIndex = old.CreateIndex
	} else {
		p.CreateIndex = idx
	}
	p.ModifyIndex = idx
	p.Hash = policyHash(p)
	return txn.Insert(tableACLPolicies, p)
}

// ACLPolicyBatchDelete deletes policies by ID; unknown ones are skipped.
// Tokens and roles keep their links, which reads leave out from then on.
func (s *Store) ACLPolicyBatchDelete(idx uint64, req *ACLPolicyBatchDeleteRequest) error {
	if req == nil {
		return fmt.Errorf("%w: nil policy batch", ErrInvalidRequest)
	}
	return s.aclWrite(func(txn *memdb.Txn) error {
		for _, pid := range req.PolicyIDs {
			if pid == structs.ACLPolicyGlobalManagementID {
				return aclErr("Delete operation not permitted on the builtin global-management policy")
			}
			raw, err := txn.First(tableACLPolicies, "id", pid)
			if err != nil {
				return err
			}
			if raw == nil {
				continue
			}
			if err := txn.Delete(tableACLPolicies, raw); err != nil {
				return err
			}
		}
		return bump(txn, idx, tableACLPolicies)
	})
}

// ACLRoleBatchSet creates or updates roles, all or none.
func (s *Store) ACLRoleBatchSet(idx uint64, req *ACLRoleBatchSetRequest) error {
	if req == nil {
		return fmt.Errorf("%w: nil role batch", ErrInvalidRequest)
	}
	return s.aclWrite(func(txn *memdb.Txn) error {
		for _, r := range req.Roles {
			if err := aclRoleSetTxn(txn, idx, r, req.AllowMissingLinks); err != nil {
				return err
			}
		}
		return bump(txn, idx, tableACLRoles)
	})
}

func aclRoleSetTxn(txn *memdb.Txn, idx uint64, in *structs.ACLRole, allowMissing bool) error {
	if in == nil || in.ID == "" {
		return aclErr("Invalid Role: missing ID")
	}
	if in.Name == "" {
		return aclErr("Invalid Role: no Name is set")
	}
	r := copyRole(in)
	existing, err := txn.First(tableACLRoles, "id", r.ID)
	if err != nil {
		return err
	}
	if other, err := txn.First(tableACLRoles, "name", r.Name); err != nil {
		return err
	} else if other != nil && other.(*structs.ACLRole).ID != r.ID {
		return aclErr("Invalid Role: A Role with Name %q already exists", r.Name)
	}
	if r.Policies, err = resolveLinks(txn, tableACLPolicies, "policy", r.Policies, allowMissing); err != nil {
		return err
	}
	for _, si := range r.ServiceIdentities {
		if si.ServiceName == "" {
			return aclErr("Service identity is missing the service name field on this role")
		}
	}
	for _, ni := range r.NodeIdentities {
		if ni.NodeName == "" || ni.Datacenter == "" {
			return aclErr("Node identity needs a node name and a datacenter")
		}
	}
	if existing != nil {
		r.CreateIndex = existing.(*structs.ACLRole).CreateIndex
	} else {
		r.CreateIndex = idx
	}
	r.ModifyIndex = idx
	r.Hash = roleHash(r)
	return txn.Insert(tableACLRoles, r)
}

// ACLRoleBatchDelete deletes roles by ID; unknown ones are skipped.
func (s *Store) ACLRoleBatchDelete(idx uint64, req *ACLRoleBatchDeleteRequest) error {
	if req == nil {
		return fmt.Errorf("%w: nil role batch", ErrInvalidRequest)
	}
	return s.aclWrite(func(txn *memdb.Txn) error {
		for _, rid := range req.RoleIDs {
			raw, err := txn.First(tableACLRoles, "id", rid)
			if err != nil {
				return err
			}
			if raw == nil {
				continue
			}
			if err := txn.Delete(tableACLRoles, raw); err != nil {
				return err
			}
		}
		return bump(txn, idx, tableACLRoles)
	})
}

// ACLBootstrap stores the bootstrap management token (creating the
// global-management policy when missing) and records idx as the reset
// index. It fails with an *ACLError when ACLs were bootstrapped already
// and req.ResetIndex is not the recorded index.
func (s *Store) ACLBootstrap(idx uint64, req *ACLBootstrapRequest) error {
	if req == nil {
		return fmt.Errorf("%w: nil bootstrap request", ErrInvalidRequest)
	}
	return s.aclWrite(func(txn *memdb.Txn) error {
		if prev := indexOf(txn, aclBootstrapIndexKey); prev != 0 && prev != req.ResetIndex {
			return aclErr("Invalid bootstrap reset index (specified %d, reset index: %d)", req.ResetIndex, prev)
		}
		gm, err := txn.First(tableACLPolicies, "id", structs.ACLPolicyGlobalManagementID)
		if err != nil {
			return err
		}
		if gm == nil {
			if err := aclPolicySetTxn(txn, idx, GlobalManagementPolicy()); err != nil {
				return err
			}
			if err := bump(txn, idx, tableACLPolicies); err != nil {
				return err
			}
		}
		if err := aclTokenSetTxn(txn, idx, &req.Token, true, false); err != nil {
			return err
		}
		return bump(txn, idx, tableACLTokens, aclBootstrapIndexKey)
	})
}

// --- reads ---

// ACLCanBootstrap reports whether ACL bootstrap is allowed (never done)
// and the reset index (the Raft index of the last bootstrap).
func (s *Store) ACLCanBootstrap() (bool, uint64, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	idx := indexOf(txn, aclBootstrapIndexKey)
	return idx == 0, idx, nil
}

func (s *Store) tokenGet(ws memdb.WatchSet, index, key string) (uint64, *structs.ACLToken, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	ch, raw, err := txn.FirstWatch(tableACLTokens, index, key)
	if err != nil {
		return 0, nil, err
	}
	if ws != nil {
		ws.Add(ch)
	}
	idx := maxIndex(txn, tableACLTokens, tableACLPolicies, tableACLRoles)
	if raw == nil {
		return idx, nil, nil
	}
	return idx, readToken(txn, raw), nil
}

// ACLTokenGetByAccessor returns a token by AccessorID (nil: none).
func (s *Store) ACLTokenGetByAccessor(ws memdb.WatchSet, accessorID string) (uint64, *structs.ACLToken, error) {
	return s.tokenGet(ws, "id", accessorID)
}

// ACLTokenGetBySecret returns a token by SecretID (nil: none).
func (s *Store) ACLTokenGetBySecret(ws memdb.WatchSet, secretID string) (uint64, *structs.ACLToken, error) {
	return s.tokenGet(ws, "secret", secretID)
}

// ACLTokenList lists tokens ordered by AccessorID: the local ones when
// local, the global ones when global; with policy (a policy ID) or role (a
// role ID) set, only the tokens linking it.
func (s *Store) ACLTokenList(ws memdb.WatchSet, local, global bool, policy, role string) (uint64, []*structs.ACLToken, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	var it memdb.ResultIterator
	var err error
	switch {
	case policy != "":
		it, err = txn.Get(tableACLTokens, "policies", policy)
	case role != "":
		it, err = txn.Get(tableACLTokens, "roles", role)
	default:
		it, err = txn.Get(tableACLTokens, "id")
	}
	if err != nil {
		return 0, nil, err
	}
	if ws != nil {
		ws.Add(it.WatchCh())
	}
	out := []*structs.ACLToken{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		t := raw.(*structs.ACLToken)
		if (t.Local && !local) || (!t.Local && !global) {
			continue
		}
		if policy != "" && role != "" && !slices.Contains(linkIDs(t.Roles), role) {
			continue
		}
		out = append(out, readToken(txn, raw))
	}
	slices.SortFunc(out, func(a, b *structs.ACLToken) int { return strings.Compare(a.AccessorID, b.AccessorID) })
	return maxIndex(txn, tableACLTokens, tableACLPolicies, tableACLRoles), out, nil
}

// ACLTokenListExpired returns up to limit tokens (local or global ones, as
// local says) whose ExpirationTime is not after now, oldest first.
func (s *Store) ACLTokenListExpired(local bool, now time.Time, limit int) ([]*structs.ACLToken, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	it, err := txn.Get(tableACLTokens, "expiration")
	if err != nil {
		return nil, err
	}
	var out []*structs.ACLToken
	for raw := it.Next(); raw != nil && len(out) < limit; raw = it.Next() {
		t := raw.(*structs.ACLToken)
		if t.ExpirationTime.After(now) {
			break
		}
		if t.Local == local {
			out = append(out, copyToken(t))
		}
	}
	return out, nil
}

func (s *Store) policyGet(ws memdb.WatchSet, index, key string) (uint64, *structs.ACLPolicy, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	ch, raw, err := txn.FirstWatch(tableACLPolicies, index, key)
	if err != nil {
		return 0, nil, err
	}
	if ws != nil {
		ws.Add(ch)
	}
	idx := indexOf(txn, tableACLPolicies)
	if raw == nil {
		return idx, nil, nil
	}
	return idx, copyPolicy(raw.(*structs.ACLPolicy)), nil
}

// ACLPolicyGetByID returns a policy by ID (nil: none).
func (s *Store) ACLPolicyGetByID(ws memdb.WatchSet, policyID string) (uint64, *structs.ACLPolicy, error) {
	return s.policyGet(ws, "id", policyID)
}

// ACLPolicyGetByName returns a policy by name, case-insensitively (nil:
// none).
func (s *Store) ACLPolicyGetByName(ws memdb.WatchSet, name string) (uint64, *structs.ACLPolicy, error) {
	return s.policyGet(ws, "name", name)
}

// ACLPolicyList lists every policy ordered by ID.
func (s *Store) ACLPolicyList(ws memdb.WatchSet) (uint64, []*structs.ACLPolicy, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	it, err := txn.Get(tableACLPolicies, "id")
	if err != nil {
		return 0, nil, err
	}
	if ws != nil {
		ws.Add(it.WatchCh())
	}
	out := []*structs.ACLPolicy{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, copyPolicy(raw.(*structs.ACLPolicy)))
	}
	return indexOf(txn, tableACLPolicies), out, nil
}

func (s *Store) roleGet(ws memdb.WatchSet, index, key string) (uint64, *structs.ACLRole, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	ch, raw, err := txn.FirstWatch(tableACLRoles, index, key)
	if err != nil {
		return 0, nil, err
	}
	if ws != nil {
		ws.Add(ch)
	}
	idx := maxIndex(txn, tableACLRoles, tableACLPolicies)
	if raw == nil {
		return idx, nil, nil
	}
	return idx, readRole(txn, raw), nil
}

// ACLRoleGetByID returns a role by ID (nil: none).
func (s *Store) ACLRoleGetByID(ws memdb.WatchSet, roleID string) (uint64, *structs.ACLRole, error) {
	return s.roleGet(ws, "id", roleID)
}

// ACLRoleGetByName returns a role by name, case-insensitively (nil: none).
func (s *Store) ACLRoleGetByName(ws memdb.WatchSet, name string) (uint64, *structs.ACLRole, error) {
	return s.roleGet(ws, "name", name)
}

// ACLRoleList lists roles ordered by ID; with policy (a policy ID) set,
// only the roles linking it.
func (s *Store) ACLRoleList(ws memdb.WatchSet, policy string) (uint64, []*structs.ACLRole, error) {
	txn := s.db.Txn(false)
	defer txn.Abort()
	var it memdb.ResultIterator
	var err error
	if policy != "" {
		it, err = txn.Get(tableACLRoles, "policies", policy)
	} else {
		it, err = txn.Get(tableACLRoles, "id")
	}
	if err != nil {
		return 0, nil, err
	}
	if ws != nil {
		ws.Add(it.WatchCh())
	}
	out := []*structs.ACLRole{}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, readRole(txn, raw))
	}
	slices.SortFunc(out, func(a, b *structs.ACLRole) int { return strings.Compare(a.ID, b.ID) })
	return maxIndex(txn, tableACLRoles, tableACLPolicies), out, nil
}

// checkACLRow refuses a restored ACL row that would break the store's
// rules (missing keys, a name or secret another row holds); other rows
// pass.
func checkACLRow(txn *memdb.Txn, row any) error {
	dup := func(table, index, key, idv string, idOf func(any) string) error {
		raw, err := txn.First(table, index, key)
		if err != nil {
			return err
		}
		if raw != nil && idOf(raw) != idv {
			return fmt.Errorf("duplicate %s %q", index, key)
		}
		return nil
	}
	switch r := row.(type) {
	case *structs.ACLToken:
		if r.AccessorID == "" || r.SecretID == "" {
			return fmt.Errorf("token without AccessorID or SecretID")
		}
		return dup(tableACLTokens, "secret", r.SecretID, r.AccessorID, func(o any) string { return o.(*structs.ACLToken).AccessorID })
	case *structs.ACLPolicy:
		if r.ID == "" || r.Name == "" {
			return fmt.Errorf("policy without ID or Name")
		}
		return dup(tableACLPolicies, "name", r.Name, r.ID, func(o any) string { return o.(*structs.ACLPolicy).ID })
	case *structs.ACLRole:
		if r.ID == "" || r.Name == "" {
			return fmt.Errorf("role without ID or Name")
		}
		return dup(tableACLRoles, "name", r.Name, r.ID, func(o any) string { return o.(*structs.ACLRole).ID })
	}
	return nil
}
