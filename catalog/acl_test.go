package catalog

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/go-msgpack/v2/codec"

	"consulate/structs"
)

func mustACL(t *testing.T, r any) {
	t.Helper()
	if err, ok := r.(error); ok {
		t.Fatal(err)
	}
}

func wantACLError(t *testing.T, r any, what string) {
	t.Helper()
	err, ok := r.(error)
	var ae *ACLError
	if !ok || !errors.As(err, &ae) || !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("%s: want an ACLError, got %v", what, r)
	}
}

func TestACLPoliciesRolesTokens(t *testing.T) {
	f := NewFSM(nil)
	st := f.State()
	mustACL(t, apply(t, f, 1, ACLPolicySetType, &ACLPolicyBatchSetRequest{Policies: []*structs.ACLPolicy{
		GlobalManagementPolicy(), {ID: "p1", Name: "read-all", Rules: `node_prefix "" { policy = "read" }`}}}))
	idx, p, err := st.ACLPolicyGetByName(nil, "READ-ALL")
	if err != nil || p == nil || p.ID != "p1" || idx != 1 || p.CreateIndex != 1 || len(p.Hash) != 32 {
		t.Fatalf("policy by name: %d %+v %v", idx, p, err)
	}
	// Names are unique.
	wantACLError(t, apply(t, f, 2, ACLPolicySetType, &ACLPolicyBatchSetRequest{Policies: []*structs.ACLPolicy{
		{ID: "p2", Name: "Read-All"}}}), "duplicate policy name")
	// The builtin policy keeps its rules and stays.
	wantACLError(t, apply(t, f, 3, ACLPolicySetType, &ACLPolicyBatchSetRequest{Policies: []*structs.ACLPolicy{
		{ID: structs.ACLPolicyGlobalManagementID, Name: "global-management", Rules: "acl = \"read\""}}}), "gm rules")
	wantACLError(t, apply(t, f, 4, ACLPolicyDeleteType, &ACLPolicyBatchDeleteRequest{PolicyIDs: []string{structs.ACLPolicyGlobalManagementID}}), "gm delete")
	gm := GlobalManagementPolicy()
	gm.Description = "renamed description"
	mustACL(t, apply(t, f, 5, ACLPolicySetType, &ACLPolicyBatchSetRequest{Policies: []*structs.ACLPolicy{gm}}))

	// Roles link policies by name or ID.
	mustACL(t, apply(t, f, 6, ACLRoleSetType, &ACLRoleBatchSetRequest{Roles: []*structs.ACLRole{
		{ID: "r1", Name: "ops", Policies: []*structs.ACLLink{{Name: "read-all"}, {ID: "p1"}}}}}))
	_, r, _ := st.ACLRoleGetByName(nil, "ops")
	if r == nil || len(r.Policies) != 1 || r.Policies[0].ID != "p1" || r.Policies[0].Name != "read-all" {
		t.Fatalf("role %+v", r)
	}
	wantACLError(t, apply(t, f, 7, ACLRoleSetType, &ACLRoleBatchSetRequest{Roles: []*structs.ACLRole{
		{ID: "r2", Name: "dev", Policies: []*structs.ACLLink{{Name: "nope"}}}}}), "unknown policy name")
	wantACLError(t, apply(t, f, 8, ACLRoleSetType, &ACLRoleBatchSetRequest{Roles: []*structs.ACLRole{
		{ID: "r2", Name: "OPS"}}}), "duplicate role name")

	// Tokens.
	exp := time.Unix(1000, 0).UTC()
	mustACL(t, apply(t, f, 9, ACLTokenSetType, &ACLTokenBatchSetRequest{Create: true, Tokens: []*structs.ACLToken{
		{AccessorID: "a1", SecretID: "s1", Policies: []*structs.ACLLink{{Name: "read-all"}}},
		{AccessorID: "a2", SecretID: "s2", Local: true, Roles: []*structs.ACLLink{{Name: "ops"}}, ExpirationTime: &exp},
		AnonymousToken(),
	}}))
	_, tok, _ := st.ACLTokenGetBySecret(nil, "s1")
	if tok == nil || tok.AccessorID != "a1" || tok.Policies[0].ID != "p1" || tok.CreateIndex != 9 || len(tok.Hash) != 32 {
		t.Fatalf("token by secret %+v", tok)
	}
	err = apply(t, f, 10, ACLTokenSetType, &ACLTokenBatchSetRequest{Tokens: []*structs.ACLToken{
		{AccessorID: "a3", SecretID: "s3", Policies: []*structs.ACLLink{{ID: "missing"}}}}}).(error)
	if err == nil || err.Error() != `ACL policy with ID "missing" does not exist` {
		t.Fatalf("unknown policy ID: %v", err)
	}
	wantACLError(t, apply(t, f, 11, ACLTokenSetType, &ACLTokenBatchSetRequest{Tokens: []*structs.ACLToken{
		{AccessorID: "a3", SecretID: "s1"}}}), "secret in use")
	wantACLError(t, apply(t, f, 12, ACLTokenSetType, &ACLTokenBatchSetRequest{Tokens: []*structs.ACLToken{
		{AccessorID: "a1", SecretID: "other"}}}), "secret change")
	wantACLError(t, apply(t, f, 13, ACLTokenSetType, &ACLTokenBatchSetRequest{Tokens: []*structs.ACLToken{
		{AccessorID: "a1", SecretID: "s1", Local: true}}}), "local toggle")
	wantACLError(t, apply(t, f, 14, ACLTokenSetType, &ACLTokenBatchSetRequest{Tokens: []*structs.ACLToken{
		{AccessorID: "a3", SecretID: "s3", Roles: []*structs.ACLLink{{Name: "nope"}}}}}), "unknown role")
	// Replication may link what is not there yet.
	mustACL(t, apply(t, f, 15, ACLTokenSetType, &ACLTokenBatchSetRequest{AllowMissingLinks: true, Tokens: []*structs.ACLToken{
		{AccessorID: "a3", SecretID: "s3", Policies: []*structs.ACLLink{{ID: "later"}}}}}))

	_, all, _ := st.ACLTokenList(nil, true, true, "", "")
	if len(all) != 4 {
		t.Fatalf("list %d", len(all))
	}
	_, locals, _ := st.ACLTokenList(nil, true, false, "", "")
	if len(locals) != 1 || locals[0].AccessorID != "a2" {
		t.Fatalf("locals %+v", locals)
	}
	_, byPolicy, _ := st.ACLTokenList(nil, true, true, "p1", "")
	if len(byPolicy) != 1 || byPolicy[0].AccessorID != "a1" {
		t.Fatalf("by policy %+v", byPolicy)
	}
	_, byRole, _ := st.ACLTokenList(nil, true, true, "", "r1")
	if len(byRole) != 1 || byRole[0].AccessorID != "a2" {
		t.Fatalf("by role %+v", byRole)
	}
	expired, _ := st.ACLTokenListExpired(true, time.Unix(2000, 0), 10)
	if len(expired) != 1 || expired[0].AccessorID != "a2" {
		t.Fatalf("expired %+v", expired)
	}
	if expired, _ := st.ACLTokenListExpired(true, time.Unix(500, 0), 10); len(expired) != 0 {
		t.Fatalf("expired early %+v", expired)
	}

	// Deleting a policy drops it from links on read.
	mustACL(t, apply(t, f, 16, ACLPolicyDeleteType, &ACLPolicyBatchDeleteRequest{PolicyIDs: []string{"p1"}}))
	_, tok, _ = st.ACLTokenGetByAccessor(nil, "a1")
	if tok == nil || len(tok.Policies) != 0 {
		t.Fatalf("after policy delete %+v", tok)
	}
	wantACLError(t, apply(t, f, 17, ACLTokenDeleteType, &ACLTokenBatchDeleteRequest{AccessorIDs: []string{structs.ACLTokenAnonymousID}}), "anonymous delete")
	mustACL(t, apply(t, f, 18, ACLTokenDeleteType, &ACLTokenBatchDeleteRequest{AccessorIDs: []string{"a1", "unknown"}}))
	if _, tok, _ = st.ACLTokenGetByAccessor(nil, "a1"); tok != nil {
		t.Fatal("a1 still there")
	}
	mustACL(t, apply(t, f, 19, ACLRoleDeleteType, &ACLRoleBatchDeleteRequest{RoleIDs: []string{"r1"}}))
	if idx, roles, _ := st.ACLRoleList(nil, ""); len(roles) != 0 || idx != 19 {
		t.Fatalf("roles %d %+v", idx, roles)
	}
}

func TestACLBootstrapOnceAndReset(t *testing.T) {
	f := NewFSM(nil)
	st := f.State()
	if ok, idx, _ := st.ACLCanBootstrap(); !ok || idx != 0 {
		t.Fatal("fresh store cannot bootstrap")
	}
	boot := func(accessor string, reset uint64) any {
		return &ACLBootstrapRequest{ResetIndex: reset, Token: structs.ACLToken{AccessorID: accessor, SecretID: accessor + "-s",
			Policies: []*structs.ACLLink{{ID: structs.ACLPolicyGlobalManagementID}}}}
	}
	mustACL(t, apply(t, f, 3, ACLBootstrapType, boot("b1", 0)))
	if _, p, _ := st.ACLPolicyGetByID(nil, structs.ACLPolicyGlobalManagementID); p == nil {
		t.Fatal("bootstrap did not create global-management")
	}
	ok, idx, _ := st.ACLCanBootstrap()
	if ok || idx != 3 {
		t.Fatalf("after bootstrap: %v %d", ok, idx)
	}
	wantACLError(t, apply(t, f, 4, ACLBootstrapType, boot("b2", 0)), "second bootstrap")
	wantACLError(t, apply(t, f, 5, ACLBootstrapType, boot("b2", 2)), "wrong reset index")
	mustACL(t, apply(t, f, 6, ACLBootstrapType, boot("b2", 3)))
	if _, idx, _ := st.ACLCanBootstrap(); idx != 6 {
		t.Fatalf("reset index %d", idx)
	}
}

func TestACLBlockingQueryWakesOnTokenWrite(t *testing.T) {
	f := NewFSM(nil)
	st := f.State()
	ws := memdb.NewWatchSet()
	if _, tok, _ := st.ACLTokenGetBySecret(ws, "s1"); tok != nil {
		t.Fatal("token before write")
	}
	lws := memdb.NewWatchSet()
	_, _, _ = st.ACLTokenList(lws, true, true, "", "")
	mustACL(t, apply(t, f, 1, ACLTokenSetType, &ACLTokenBatchSetRequest{Tokens: []*structs.ACLToken{{AccessorID: "a1", SecretID: "s1"}}}))
	if ws.Watch(time.After(2 * time.Second)) {
		t.Fatal("get by secret not woken")
	}
	if lws.Watch(time.After(2 * time.Second)) {
		t.Fatal("list not woken")
	}
	if st.Index(tableACLTokens) != 1 {
		t.Fatalf("index %d", st.Index(tableACLTokens))
	}
}

func TestACLSnapshotRoundTrip(t *testing.T) {
	f := NewFSM(nil)
	exp := time.Now().Add(time.Hour).UTC().Round(0)
	mustACL(t, apply(t, f, 1, ACLBootstrapType, &ACLBootstrapRequest{Token: structs.ACLToken{AccessorID: "b", SecretID: "bs",
		Policies: []*structs.ACLLink{{ID: structs.ACLPolicyGlobalManagementID}}}}))
	mustACL(t, apply(t, f, 2, ACLPolicySetType, &ACLPolicyBatchSetRequest{Policies: []*structs.ACLPolicy{{ID: "p1", Name: "pol", Datacenters: []string{"dc1"}}}}))
	mustACL(t, apply(t, f, 3, ACLRoleSetType, &ACLRoleBatchSetRequest{Roles: []*structs.ACLRole{{ID: "r1", Name: "role",
		Policies: []*structs.ACLLink{{ID: "p1"}}, ServiceIdentities: []*structs.ACLServiceIdentity{{ServiceName: "web"}}}}}))
	mustACL(t, apply(t, f, 4, ACLTokenSetType, &ACLTokenBatchSetRequest{Tokens: []*structs.ACLToken{{AccessorID: "a1", SecretID: "s1",
		Local: true, Roles: []*structs.ACLLink{{ID: "r1"}}, ExpirationTime: &exp, ExpirationTTL: time.Hour,
		NodeIdentities: []*structs.ACLNodeIdentity{{NodeName: "n1", Datacenter: "dc1"}}}}}))
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink bufSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	if err := VerifySnapshot(sink.Bytes(), 0); err != nil {
		t.Fatal(err)
	}
	g := NewFSM(nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	a, b := f.State(), g.State()
	_, t1, _ := a.ACLTokenGetBySecret(nil, "s1")
	_, t2, _ := b.ACLTokenGetBySecret(nil, "s1")
	if t2 == nil || !bytes.Equal(t1.Hash, t2.Hash) || !t2.ExpirationTime.Equal(exp) || len(t2.Roles) != 1 || t2.Roles[0].Name != "role" ||
		len(t2.NodeIdentities) != 1 || t2.ModifyIndex != 4 {
		t.Fatalf("token after restore %+v", t2)
	}
	if ex, _ := b.ACLTokenListExpired(true, exp.Add(time.Second), 5); len(ex) != 1 {
		t.Fatal("expiration index not restored")
	}
	_, r2, _ := b.ACLRoleGetByName(nil, "ROLE")
	if r2 == nil || len(r2.ServiceIdentities) != 1 || r2.Policies[0].Name != "pol" {
		t.Fatalf("role after restore %+v", r2)
	}
	_, pols, _ := b.ACLPolicyList(nil)
	if len(pols) != 2 {
		t.Fatalf("policies after restore %+v", pols)
	}
	if ok, idx, _ := b.ACLCanBootstrap(); ok || idx != 1 {
		t.Fatalf("bootstrap index after restore: %v %d", ok, idx)
	}
	for _, key := range []string{tableACLTokens, tableACLPolicies, tableACLRoles} {
		if a.Index(key) != b.Index(key) {
			t.Fatalf("index %s: %d vs %d", key, a.Index(key), b.Index(key))
		}
	}
}

func TestACLSnapshotVerifyRejectsBrokenRows(t *testing.T) {
	enc := func(vals ...any) []byte {
		var buf bytes.Buffer
		e := codec.NewEncoder(&buf, msgpackHandle())
		for _, v := range vals {
			if err := e.Encode(v); err != nil {
				t.Fatal(err)
			}
		}
		return buf.Bytes()
	}
	hdr := &snapshotHeader{Version: 1}
	for name, state := range map[string][]byte{
		"token without secret":   enc(hdr, uint8(recACLToken), &structs.ACLToken{AccessorID: "a"}, uint8(recEnd)),
		"policy without name":    enc(hdr, uint8(recACLPolicy), &structs.ACLPolicy{ID: "p"}, uint8(recEnd)),
		"duplicate policy names": enc(hdr, uint8(recACLPolicy), &structs.ACLPolicy{ID: "p1", Name: "x"}, uint8(recACLPolicy), &structs.ACLPolicy{ID: "p2", Name: "X"}, uint8(recEnd)),
		"duplicate role names":   enc(hdr, uint8(recACLRole), &structs.ACLRole{ID: "r1", Name: "x"}, uint8(recACLRole), &structs.ACLRole{ID: "r2", Name: "x"}, uint8(recEnd)),
		"duplicate secrets":      enc(hdr, uint8(recACLToken), &structs.ACLToken{AccessorID: "a1", SecretID: "s"}, uint8(recACLToken), &structs.ACLToken{AccessorID: "a2", SecretID: "s"}, uint8(recEnd)),
	} {
		if err := VerifySnapshot(state, 0); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s: got %v, want ErrBadSnapshot", name, err)
		}
	}
}
