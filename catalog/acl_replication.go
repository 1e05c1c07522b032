package catalog

// ACL replication: a secondary datacenter's leader mirrors the primary's
// policies, roles and global tokens with ACLReplicateType entries. Unlike
// the ordinary batch writes, a replicated batch is the primary's word: it
// keeps the primary's IDs and Hash (so the next diff compares like with
// like), takes names from rows it replaces (a rename chain in the primary
// can reach a replica in any order), and keeps links to objects not
// replicated yet. Local tokens are never touched by it.

import (
	"slices"

	memdb "github.com/hashicorp/go-memdb"

	"consulate/structs"
)

// ACLReplicateRequest is the ACLReplicateType log entry: deletes are
// applied first, then the upserts, in one transaction.
type ACLReplicateRequest struct {
	PolicyDeletes []string
	RoleDeletes   []string
	// TokenDeletes are AccessorIDs of global tokens; local tokens named
	// here are kept.
	TokenDeletes []string
	Policies     []*structs.ACLPolicy
	Roles        []*structs.ACLRole
	// Tokens must all be global.
	Tokens []*structs.ACLToken
}

// ACLReplicate applies one replicated batch, all or none. It fails with an
// *ACLError when the batch would overwrite a local token (or carries
// one), or misses a key.
func (s *Store) ACLReplicate(idx uint64, req *ACLReplicateRequest) error {
	if req == nil {
		return aclErr("nil replication batch")
	}
	return s.aclWrite(func(txn *memdb.Txn) error {
		var touched []string
		touch := func(table string) {
			if !slices.Contains(touched, table) {
				touched = append(touched, table)
			}
		}
		for _, pid := range req.PolicyDeletes {
			if deleted, err := deleteByID(txn, tableACLPolicies, pid, nil); err != nil {
				return err
			} else if deleted {
				touch(tableACLPolicies)
			}
		}
		for _, rid := range req.RoleDeletes {
			if deleted, err := deleteByID(txn, tableACLRoles, rid, nil); err != nil {
				return err
			} else if deleted {
				touch(tableACLRoles)
			}
		}
		keepLocal := func(raw any) bool { return raw.(*structs.ACLToken).Local }
		for _, aid := range req.TokenDeletes {
			if deleted, err := deleteByID(txn, tableACLTokens, aid, keepLocal); err != nil {
				return err
			} else if deleted {
				touch(tableACLTokens)
			}
		}
		for _, in := range req.Policies {
			if err := replicatePolicy(txn, idx, in); err != nil {
				return err
			}
			touch(tableACLPolicies)
		}
		for _, in := range req.Roles {
			if err := replicateRole(txn, idx, in); err != nil {
				return err
			}
			touch(tableACLRoles)
		}
		for _, in := range req.Tokens {
			if err := replicateToken(txn, idx, in); err != nil {
				return err
			}
			touch(tableACLTokens)
		}
		if len(touched) == 0 {
			return nil
		}
		return bump(txn, idx, touched...)
	})
}

// deleteByID deletes the row of table with that ID unless keep says no;
// it reports whether a row went.
func deleteByID(txn *memdb.Txn, table, id string, keep func(any) bool) (bool, error) {
	raw, err := txn.First(table, "id", id)
	if err != nil || raw == nil {
		return false, err
	}
	if keep != nil && keep(raw) {
		return false, nil
	}
	return true, txn.Delete(table, raw)
}

// takeName deletes the row of table other than id that holds name: the
// primary says the name is id's now.
func takeName(txn *memdb.Txn, table, name, id string, idOf func(any) string) error {
	raw, err := txn.First(table, "name", name)
	if err != nil || raw == nil || idOf(raw) == id {
		return err
	}
	return txn.Delete(table, raw)
}

func replicatePolicy(txn *memdb.Txn, idx uint64, in *structs.ACLPolicy) error {
	if in == nil || in.ID == "" || in.Name == "" {
		return aclErr("Invalid replicated policy: missing ID or Name")
	}
	p := copyPolicy(in)
	if err := takeName(txn, tableACLPolicies, p.Name, p.ID, func(o any) string { return o.(*structs.ACLPolicy).ID }); err != nil {
		return err
	}
	existing, err := txn.First(tableACLPolicies, "id", p.ID)
	if err != nil {
		return err
	}
	p.CreateIndex = idx
	if existing != nil {
		p.CreateIndex = existing.(*structs.ACLPolicy).CreateIndex
	}
	p.ModifyIndex = idx
	if len(p.Hash) == 0 {
		p.Hash = policyHash(p)
	}
	return txn.Insert(tableACLPolicies, p)
}

// idLinks keeps the links that carry an ID, once each.
func idLinks(in []*structs.ACLLink) []*structs.ACLLink {
	if len(in) == 0 {
		return nil
	}
	seen := map[string]bool{}
	out := make([]*structs.ACLLink, 0, len(in))
	for _, l := range in {
		if l == nil || l.ID == "" || seen[l.ID] {
			continue
		}
		seen[l.ID] = true
		out = append(out, l)
	}
	return out
}

func replicateRole(txn *memdb.Txn, idx uint64, in *structs.ACLRole) error {
	if in == nil || in.ID == "" || in.Name == "" {
		return aclErr("Invalid replicated role: missing ID or Name")
	}
	r := copyRole(in)
	r.Policies = idLinks(r.Policies)
	if err := takeName(txn, tableACLRoles, r.Name, r.ID, func(o any) string { return o.(*structs.ACLRole).ID }); err != nil {
		return err
	}
	existing, err := txn.First(tableACLRoles, "id", r.ID)
	if err != nil {
		return err
	}
	r.CreateIndex = idx
	if existing != nil {
		r.CreateIndex = existing.(*structs.ACLRole).CreateIndex
	}
	r.ModifyIndex = idx
	if len(r.Hash) == 0 {
		r.Hash = roleHash(r)
	}
	return txn.Insert(tableACLRoles, r)
}

func replicateToken(txn *memdb.Txn, idx uint64, in *structs.ACLToken) error {
	if in == nil || in.AccessorID == "" || in.SecretID == "" {
		return aclErr("Invalid replicated token: a token needs an AccessorID and a SecretID")
	}
	if in.Local {
		return aclErr("Invalid replicated token %s: local tokens are not replicated", in.AccessorID)
	}
	t := copyToken(in)
	t.Policies, t.Roles = idLinks(t.Policies), idLinks(t.Roles)
	existing, err := txn.First(tableACLTokens, "id", t.AccessorID)
	if err != nil {
		return err
	}
	if existing != nil && existing.(*structs.ACLToken).Local {
		return aclErr("Replicated token %s would replace a local token", t.AccessorID)
	}
	if other, err := txn.First(tableACLTokens, "secret", t.SecretID); err != nil {
		return err
	} else if other != nil && other.(*structs.ACLToken).AccessorID != t.AccessorID {
		if other.(*structs.ACLToken).Local {
			return aclErr("Replicated token %s has the SecretID of a local token", t.AccessorID)
		}
		if err := txn.Delete(tableACLTokens, other); err != nil {
			return err
		}
	}
	t.CreateIndex = idx
	if existing != nil {
		t.CreateIndex = existing.(*structs.ACLToken).CreateIndex
	}
	t.ModifyIndex = idx
	if len(t.Hash) == 0 {
		t.Hash = tokenHash(t)
	}
	return txn.Insert(tableACLTokens, t)
}
