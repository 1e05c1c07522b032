package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"consulate/config"
	"consulate/internal/testutil"
	"consulate/structs"
)

// TestAliasRemoteQueriesWithUserToken: with ACLs on (default deny), an
// alias of another node reads that node's checks with the agent's user
// token (here none, so anonymous), not the agent token: a caller able to
// register a check must not learn other nodes' check outputs through it.
func TestAliasRemoteQueriesWithUserToken(t *testing.T) {
	a := startAgent(t, testOpts(t, "127.0.16.21", ""), func(rt *config.Runtime) {
		rt.ACLsEnabled, rt.ACLDefaultPolicy = true, "deny"
		rt.ACLTokens.InitialManagement = "root"
		rt.ACLTokens.Agent = "root"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := &structs.RegisterRequest{Node: "other", Address: "10.0.0.9",
		Check: &structs.HealthCheck{Node: "other", CheckID: "secret", Name: "secret", Status: structs.HealthCritical, Output: "s3cret-output"}}
	reg.Token = "root"
	testutil.WaitForErr(t, 5*time.Second, "node other registered", func() error {
		return a.RPC(ctx, structs.MethodCatalogRegister, reg, new(struct{}))
	})
	if err := a.state.AddCheck(&structs.HealthCheck{CheckID: "al"}, &structs.CheckType{AliasNode: "other"}, false); err != nil {
		t.Fatal(err)
	}
	var out string
	testutil.WaitForErr(t, 8*time.Second, "alias answered", func() error {
		hc := a.state.Check("al")
		if hc == nil || hc.Output == "" {
			return fmt.Errorf("check %+v", hc)
		}
		out = hc.Output
		return nil
	})
	t.Logf("alias output %q", out)
	if strings.Contains(out, "s3cret") {
		t.Fatalf("alias read another node's check with the agent token: %q", out)
	}
}
