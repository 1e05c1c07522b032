package fedtest_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"consulate/internal/fedtest"
	"consulate/internal/testutil"
	"consulate/server"
	"consulate/structs"
)

const aclMgmtSecret = "7c4b1a3e-2f0d-4e51-9a8b-0d6c5e4f3a21"

// aclDCs starts dc1 (primary, one server) and dc2 (two servers) with ACLs
// on and token replication (dc2 with dc2Servers servers), the replication token being dc1's initial
// management token.
func aclDCs(t *testing.T, dc2Servers int) *fedtest.Cluster {
	t.Helper()
	return fedtest.New(t, fedtest.Config{
		DCs: []fedtest.DC{{Name: "dc1", Servers: 1}, {Name: "dc2", Servers: dc2Servers}},
		Server: func(_ *fedtest.Node, cfg *server.Config) {
			cfg.ACLsEnabled = true
			cfg.PrimaryDatacenter = "dc1"
			cfg.ACLInitialManagementToken = aclMgmtSecret
			cfg.ACLTokenReplication = true
			cfg.ACLReplicationToken = aclMgmtSecret
			cfg.ACLReplicationBackoffMin = 20 * time.Millisecond
			cfg.ACLReplicationBackoffMax = 200 * time.Millisecond
		},
	})
}

// waitWithin fails unless cond holds within d; it returns how long it took.
func waitWithin(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	testutil.WaitFor(t, d, what, cond)
	return time.Since(start)
}

func localPolicy(t *testing.T, n *fedtest.Node, id string) *structs.ACLPolicy {
	t.Helper()
	_, p, err := n.Server.State().ACLPolicyGetByID(nil, id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func localToken(t *testing.T, n *fedtest.Node, accessor string) *structs.ACLToken {
	t.Helper()
	_, tok, err := n.Server.State().ACLTokenGetByAccessor(nil, accessor)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func localRole(t *testing.T, n *fedtest.Node, id string) *structs.ACLRole {
	t.Helper()
	_, r, err := n.Server.State().ACLRoleGetByID(nil, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// everyServer holds when cond holds on every server of dc.
func everyServer(c *fedtest.Cluster, dc string, cond func(n *fedtest.Node) bool) bool {
	for _, n := range c.Servers(dc) {
		if !cond(n) {
			return false
		}
	}
	return true
}

func replStatus(t *testing.T, n *fedtest.Node) structs.ACLReplicationStatus {
	t.Helper()
	var st structs.ACLReplicationStatus
	call(t, n, structs.MethodACLReplicationStatus, &structs.DCSpecificRequest{QueryOptions: structs.QueryOptions{Token: aclMgmtSecret}}, &st)
	return st
}

func TestACLReplication(t *testing.T) {
	c := aclDCs(t, 2)
	dc1 := c.Leader("dc1")
	dc2Leader := c.WaitLeader("dc2")
	dc2Follower := c.Followers("dc2")[0]
	wr := structs.WriteRequest{Token: aclMgmtSecret}

	// The initial sync brings the builtin policy and the management token.
	var mgmt *structs.ACLToken
	waitWithin(t, 5*time.Second, "initial sync", func() bool {
		_, mgmt, _ = dc2Leader.Server.State().ACLTokenGetBySecret(nil, aclMgmtSecret)
		return mgmt != nil && localPolicy(t, dc2Leader, structs.ACLPolicyGlobalManagementID) != nil
	})

	// A policy and a global token made in dc1 reach every dc2 server
	// within a second.
	var pol structs.ACLPolicy
	call(t, dc1, structs.MethodACLPolicySet, &structs.ACLPolicySetRequest{Datacenter: "dc1", WriteRequest: wr,
		Policy: structs.ACLPolicy{Name: "kv-read", Rules: `key_prefix "" { policy = "read" }`}}, &pol)
	lag := waitWithin(t, time.Second, "policy in dc2", func() bool {
		return everyServer(c, "dc2", func(n *fedtest.Node) bool { return localPolicy(t, n, pol.ID) != nil })
	})
	t.Logf("policy replicated in %v", lag)
	if got := localPolicy(t, dc2Leader, pol.ID); got.Name != "kv-read" || got.Rules != pol.Rules || !bytes.Equal(got.Hash, pol.Hash) {
		t.Fatalf("replica %+v, want %+v", got, pol)
	}

	var global structs.ACLToken
	call(t, dc1, structs.MethodACLTokenSet, &structs.ACLTokenSetRequest{Datacenter: "dc1", Create: true, WriteRequest: wr,
		ACLToken: structs.ACLToken{Description: "global", Policies: []*structs.ACLLink{{ID: pol.ID}}}}, &global)
	lag = waitWithin(t, time.Second, "global token in dc2", func() bool {
		return everyServer(c, "dc2", func(n *fedtest.Node) bool { return localToken(t, n, global.AccessorID) != nil })
	})
	t.Logf("token replicated in %v", lag)
	if got := localToken(t, dc2Leader, global.AccessorID); got.SecretID != global.SecretID || got.Local ||
		len(got.Policies) != 1 || got.Policies[0].ID != pol.ID || got.Policies[0].Name != "kv-read" {
		t.Fatalf("replica %+v, want %+v", got, global)
	}

	// A role too.
	var role structs.ACLRole
	call(t, dc2Follower, structs.MethodACLRoleSet, &structs.ACLRoleSetRequest{WriteRequest: wr,
		Role: structs.ACLRole{Name: "readers", Policies: []*structs.ACLLink{{ID: pol.ID}}}}, &role)
	waitWithin(t, time.Second, "role in dc2", func() bool { return localRole(t, dc2Leader, role.ID) != nil })

	// A local token made in dc2 stays there, and replication keeps it.
	var local structs.ACLToken
	call(t, dc2Follower, structs.MethodACLTokenSet, &structs.ACLTokenSetRequest{Create: true, WriteRequest: wr,
		ACLToken: structs.ACLToken{Description: "local", Local: true, Policies: []*structs.ACLLink{{ID: pol.ID}}}}, &local)
	if localToken(t, dc1, local.AccessorID) != nil {
		t.Fatal("the local token of dc2 is in dc1")
	}

	// Updates and deletes replicate; the local token survives them.
	upd := pol
	upd.Rules = `key_prefix "app/" { policy = "write" }`
	var pol2 structs.ACLPolicy
	call(t, dc1, structs.MethodACLPolicySet, &structs.ACLPolicySetRequest{Datacenter: "dc1", WriteRequest: wr, Policy: upd}, &pol2)
	waitWithin(t, time.Second, "policy update in dc2", func() bool {
		p := localPolicy(t, dc2Leader, pol.ID)
		return p != nil && p.Rules == upd.Rules
	})
	var deleted string
	call(t, dc1, structs.MethodACLTokenDelete, &structs.ACLTokenDeleteRequest{Datacenter: "dc1", TokenID: global.AccessorID, WriteRequest: wr}, &deleted)
	call(t, dc1, structs.MethodACLRoleDelete, &structs.ACLRoleDeleteRequest{Datacenter: "dc1", RoleID: role.ID, WriteRequest: wr}, &deleted)
	waitWithin(t, time.Second, "token and role deletes in dc2", func() bool {
		return everyServer(c, "dc2", func(n *fedtest.Node) bool {
			return localToken(t, n, global.AccessorID) == nil && localRole(t, n, role.ID) == nil
		})
	})
	if localToken(t, dc2Leader, local.AccessorID) == nil {
		t.Fatal("replication deleted dc2's local token")
	}

	// The status, from a follower (answered by the leader).
	st := replStatus(t, dc2Follower)
	if !st.Enabled || !st.Running || st.SourceDatacenter != "dc1" || st.ReplicationType != "tokens" ||
		st.ReplicatedIndex == 0 || st.ReplicatedRoleIndex == 0 || st.ReplicatedTokenIndex == 0 || st.LastSuccess.IsZero() {
		t.Fatalf("status %+v", st)
	}
	if p := replStatus(t, dc1); p.Enabled || p.Running || p.SourceDatacenter != "dc1" {
		t.Fatalf("primary's status %+v", p)
	}

	// Cut dc2 off: the status shows the error, the replica stays.
	cut := time.Now()
	c.CutDC("dc2")
	waitWithin(t, 5*time.Second, "an error in the status", func() bool {
		s := replStatus(t, dc2Follower)
		return s.LastError.After(cut) && s.LastErrorMessage != ""
	})
	t.Logf("status during the cut: %+v", replStatus(t, dc2Follower))
	if localPolicy(t, dc2Leader, pol.ID) == nil || localPolicy(t, dc2Follower, pol.ID) == nil {
		t.Fatal("dc2 lost its replica during the cut")
	}

	// Objects made in dc1 during the cut appear in dc2 after the heal,
	// with nothing else done.
	var during structs.ACLPolicy
	call(t, dc1, structs.MethodACLPolicySet, &structs.ACLPolicySetRequest{Datacenter: "dc1", WriteRequest: wr,
		Policy: structs.ACLPolicy{Name: "during-cut", Rules: `node_prefix "" { policy = "read" }`}}, &during)
	var duringTok structs.ACLToken
	call(t, dc1, structs.MethodACLTokenSet, &structs.ACLTokenSetRequest{Datacenter: "dc1", Create: true, WriteRequest: wr,
		ACLToken: structs.ACLToken{Description: "during", Policies: []*structs.ACLLink{{ID: during.ID}}}}, &duringTok)
	call(t, dc1, structs.MethodACLPolicyDelete, &structs.ACLPolicyDeleteRequest{Datacenter: "dc1", PolicyID: pol.ID, WriteRequest: wr}, &deleted)
	if localPolicy(t, dc2Leader, during.ID) != nil {
		t.Fatal("a policy crossed the cut")
	}
	heal := time.Now()
	c.Heal()
	lag = waitWithin(t, 10*time.Second, "catch-up after the heal", func() bool {
		return everyServer(c, "dc2", func(n *fedtest.Node) bool {
			return localPolicy(t, n, during.ID) != nil && localToken(t, n, duringTok.AccessorID) != nil &&
				localPolicy(t, n, pol.ID) == nil
		})
	})
	t.Logf("caught up %v after the heal", lag)
	if localToken(t, dc2Leader, local.AccessorID) == nil {
		t.Fatal("the local token is gone after the heal")
	}
	waitWithin(t, 5*time.Second, "a success after the heal", func() bool {
		return replStatus(t, dc2Follower).LastSuccess.After(heal)
	})
}

// A new leader in dc2 takes replication over.
func TestACLReplicationFollowsLeadership(t *testing.T) {
	c := aclDCs(t, 3)
	dc1 := c.Leader("dc1")
	old := c.WaitLeader("dc2")
	waitWithin(t, 5*time.Second, "initial sync", func() bool {
		return localPolicy(t, old, structs.ACLPolicyGlobalManagementID) != nil
	})
	c.Kill(old)
	leader := c.WaitLeader("dc2")
	var pol structs.ACLPolicy
	call(t, dc1, structs.MethodACLPolicySet, &structs.ACLPolicySetRequest{Datacenter: "dc1",
		WriteRequest: structs.WriteRequest{Token: aclMgmtSecret},
		Policy:       structs.ACLPolicy{Name: "after-kill", Rules: `key_prefix "" { policy = "read" }`}}, &pol)
	waitWithin(t, 5*time.Second, "policy at dc2's new leader", func() bool { return localPolicy(t, leader, pol.ID) != nil })
	if st := replStatus(t, leader); !st.Running {
		t.Fatalf("status at the new leader %+v", st)
	}
}

// Without token replication a secondary resolves a global token at the
// primary (as Consul): a token made in dc1 works in dc2 at once, and an
// unknown one is refused there.
func TestACLGlobalTokenWithoutTokenReplication(t *testing.T) {
	c := fedtest.New(t, fedtest.Config{
		DCs: []fedtest.DC{{Name: "dc1", Servers: 1}, {Name: "dc2", Servers: 1}},
		Server: func(_ *fedtest.Node, cfg *server.Config) {
			cfg.ACLsEnabled = true
			cfg.ACLDefaultPolicy = "deny"
			cfg.PrimaryDatacenter = "dc1"
			cfg.ACLInitialManagementToken = aclMgmtSecret
			cfg.ACLReplicationToken = aclMgmtSecret
		},
	})
	dc1 := c.Leader("dc1")
	dc2 := c.WaitLeader("dc2")
	wr := structs.WriteRequest{Token: aclMgmtSecret}
	var pol structs.ACLPolicy
	// The new leader stores the initial management token just after it
	// wins; until then the token is "ACL not found".
	waitWithin(t, 5*time.Second, "the initial management token at dc1", func() bool {
		return callErr(dc1, structs.MethodACLPolicySet, &structs.ACLPolicySetRequest{Datacenter: "dc1", WriteRequest: wr,
			Policy: structs.ACLPolicy{Name: "kv-read", Rules: `key_prefix "" { policy = "read" }`}}, &pol) == nil
	})
	var tok structs.ACLToken
	call(t, dc1, structs.MethodACLTokenSet, &structs.ACLTokenSetRequest{Datacenter: "dc1", Create: true, WriteRequest: wr,
		ACLToken: structs.ACLToken{Policies: []*structs.ACLLink{{ID: pol.ID}}}}, &tok)
	var out structs.IndexedDirEntries
	call(t, dc2, structs.MethodKVSGet, &structs.KeyRequest{Key: "k", QueryOptions: structs.QueryOptions{Token: tok.SecretID}}, &out)
	if err := callErr(dc2, structs.MethodKVSApply, &structs.KVSRequest{Op: structs.KVSet,
		DirEnt: structs.DirEntry{Key: "k", Value: []byte("v")}, WriteRequest: structs.WriteRequest{Token: tok.SecretID}}, new(bool)); !errors.Is(err, structs.ErrPermissionDenied) {
		t.Fatalf("write with a read token in dc2: %v", err)
	}
	if err := callErr(dc2, structs.MethodKVSGet, &structs.KeyRequest{Key: "k", QueryOptions: structs.QueryOptions{Token: "no-such-secret"}}, &out); !errors.Is(err, structs.ErrACLNotFound) {
		t.Fatalf("unknown token in dc2: %v", err)
	}
}
