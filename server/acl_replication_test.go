package server

import (
	"errors"
	"strings"
	"testing"
	"time"

	"consulate/internal/testutil"
	"consulate/structs"
)

func TestACLReplicationStatusOutsideASecondary(t *testing.T) {
	s := devServer(t)
	var st structs.ACLReplicationStatus
	if err := callErr(s, structs.MethodACLReplicationStatus, &structs.DCSpecificRequest{}, &st); !errors.Is(err, structs.ErrACLDisabled) {
		t.Fatalf("status with ACLs off: %v", err)
	}
	if err := callErr(s, structs.MethodACLTokenListReplication, &structs.ACLTokenListRequest{}, new(structs.ACLTokensResponse)); !errors.Is(err, structs.ErrACLDisabled) {
		t.Fatalf("replication list with ACLs off: %v", err)
	}

	p := aclServer(t, "p1", "dc1", nil, Deps{})
	rpc(t, p, structs.MethodACLReplicationStatus, &structs.DCSpecificRequest{}, &st)
	if st.Enabled || st.Running || st.SourceDatacenter != "dc1" || st.ReplicationType != "policies" {
		t.Fatalf("primary's status %+v", st)
	}
	// The replication list carries global tokens with their secrets.
	var local, global structs.ACLToken
	rpc(t, p, structs.MethodACLTokenSet, &structs.ACLTokenSetRequest{Create: true, ACLToken: structs.ACLToken{Local: true}}, &local)
	rpc(t, p, structs.MethodACLTokenSet, &structs.ACLTokenSetRequest{Create: true, ACLToken: structs.ACLToken{Description: "g"}}, &global)
	var list structs.ACLTokensResponse
	rpc(t, p, structs.MethodACLTokenListReplication, &structs.ACLTokenListRequest{}, &list)
	found := false
	for _, tok := range list.Tokens {
		if tok.Local {
			t.Fatalf("local token in the replication list: %+v", tok)
		}
		found = found || (tok.AccessorID == global.AccessorID && tok.SecretID == global.SecretID)
	}
	if !found || list.Index == 0 {
		t.Fatalf("replication list %+v", list)
	}
}

// A secondary whose primary cannot be reached (no Forwarder) keeps
// trying and reports the error.
func TestACLReplicationWithoutAPath(t *testing.T) {
	s := aclServer(t, "s1", "dc2", func(c *Config) {
		c.PrimaryDatacenter = "dc1"
		c.ACLReplicationBackoffMin = 10 * time.Millisecond
		c.ACLReplicationBackoffMax = 20 * time.Millisecond
	}, Deps{})
	var st structs.ACLReplicationStatus
	testutil.WaitFor(t, 5*time.Second, "a replication error", func() bool {
		rpc(t, s, structs.MethodACLReplicationStatus, &structs.DCSpecificRequest{}, &st)
		return st.LastErrorMessage != ""
	})
	if !st.Enabled || !st.Running || st.SourceDatacenter != "dc1" || !strings.Contains(st.LastErrorMessage, "dc1") || !st.LastSuccess.IsZero() {
		t.Fatalf("status %+v", st)
	}
}
