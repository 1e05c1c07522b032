package catalog

import (
	"bytes"
	"testing"

	"consulate/structs"
)

func TestACLReplicateBatches(t *testing.T) {
	f := NewFSM(nil)
	st := f.State()
	hash := []byte("primary-hash")
	// A local token of this datacenter.
	mustACL(t, apply(t, f, 1, ACLTokenSetType, &ACLTokenBatchSetRequest{Create: true, Tokens: []*structs.ACLToken{
		{AccessorID: "local-1", SecretID: "local-secret", Local: true}}}))

	// Upserts keep the primary's hash and links to objects not there yet.
	mustACL(t, apply(t, f, 2, ACLReplicateType, &ACLReplicateRequest{
		Policies: []*structs.ACLPolicy{{ID: "p1", Name: "a", Hash: hash}, {ID: "p2", Name: "b"}},
		Roles:    []*structs.ACLRole{{ID: "r1", Name: "ops", Policies: []*structs.ACLLink{{ID: "p-later"}}, Hash: hash}},
		Tokens:   []*structs.ACLToken{{AccessorID: "g1", SecretID: "g-secret", Roles: []*structs.ACLLink{{ID: "r1"}}, Hash: hash}},
	}))
	if _, p, _ := st.ACLPolicyGetByID(nil, "p1"); p == nil || !bytes.Equal(p.Hash, hash) || p.ModifyIndex != 2 {
		t.Fatalf("policy %+v", p)
	}
	if _, p, _ := st.ACLPolicyGetByID(nil, "p2"); p == nil || len(p.Hash) != 32 {
		t.Fatalf("policy without a hash gets one: %+v", p)
	}
	if _, tok, _ := st.ACLTokenGetBySecret(nil, "g-secret"); tok == nil || tok.AccessorID != "g1" || !bytes.Equal(tok.Hash, hash) {
		t.Fatalf("token %+v", tok)
	}
	if idx, _, _ := st.ACLRoleList(nil, ""); idx != 2 {
		t.Fatalf("role index %d", idx)
	}

	// A rename chain in any order: p2 takes "a", p1 becomes "c" later.
	mustACL(t, apply(t, f, 3, ACLReplicateType, &ACLReplicateRequest{
		Policies: []*structs.ACLPolicy{{ID: "p2", Name: "a"}}}))
	if _, p, _ := st.ACLPolicyGetByName(nil, "a"); p == nil || p.ID != "p2" {
		t.Fatalf("policy named a: %+v", p)
	}

	// Deletes skip local tokens; upserts never replace one.
	mustACL(t, apply(t, f, 4, ACLReplicateType, &ACLReplicateRequest{TokenDeletes: []string{"local-1", "g1"}, RoleDeletes: []string{"r1"}}))
	if _, tok, _ := st.ACLTokenGetByAccessor(nil, "local-1"); tok == nil {
		t.Fatal("replication deleted a local token")
	}
	if _, tok, _ := st.ACLTokenGetByAccessor(nil, "g1"); tok != nil {
		t.Fatal("global token not deleted")
	}
	if _, r, _ := st.ACLRoleGetByID(nil, "r1"); r != nil {
		t.Fatal("role not deleted")
	}
	wantACLError(t, apply(t, f, 5, ACLReplicateType, &ACLReplicateRequest{Tokens: []*structs.ACLToken{
		{AccessorID: "local-1", SecretID: "local-secret"}}}), "replace a local token")
	wantACLError(t, apply(t, f, 6, ACLReplicateType, &ACLReplicateRequest{Tokens: []*structs.ACLToken{
		{AccessorID: "x", SecretID: "local-secret"}}}), "take a local token's secret")
	wantACLError(t, apply(t, f, 7, ACLReplicateType, &ACLReplicateRequest{Tokens: []*structs.ACLToken{
		{AccessorID: "y", SecretID: "y", Local: true}}}), "a local token replicated")
	if _, tok, _ := st.ACLTokenGetByAccessor(nil, "x"); tok != nil {
		t.Fatal("a refused batch left a token")
	}
}
