package agent

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"consulate/acl"
	"consulate/config"
	"consulate/structs"
	"consulate/tokenstore"
)

// newACLAgent builds (without starting) an agent with ACLs set by mutate.
func newACLAgent(t *testing.T, logs *bytes.Buffer, mutate func(*config.Runtime)) (*Agent, error) {
	t.Helper()
	rt, err := config.Load(testOpts(t, "127.0.0.76", ""))
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(rt)
	}
	if logs == nil {
		logs = &bytes.Buffer{}
	}
	return New(rt, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
}

func TestAuthorizeWithACLsOffManagesAll(t *testing.T) {
	a, err := newACLAgent(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.resolver != nil {
		t.Fatal("resolver built with ACLs off")
	}
	authz, _, err := a.Authorize(context.Background(), "whatever")
	if err != nil || !authz.Allow(acl.ResourceACL, "", acl.AccessWrite) {
		t.Fatalf("authorize with ACLs off: %v", err)
	}
}

func TestAuthorizeUsesDefaultTokenAndRecovery(t *testing.T) {
	var logs bytes.Buffer
	a, err := newACLAgent(t, &logs, func(rt *config.Runtime) {
		rt.ACLsEnabled, rt.ACLDefaultPolicy, rt.ACLDownPolicy = true, "deny", "extend-cache"
		rt.ACLTokens.Default = "dflt"
		rt.ACLTokens.AgentRecovery = "recover"
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.resolver == nil {
		t.Fatal("no resolver with ACLs on")
	}
	if strings.Contains(logs.String(), "no agent token is set") {
		t.Fatalf("warned about the agent token though the default one stands in:\n%s", logs.String())
	}
	var asked []string
	a.resolver, err = acl.NewResolver(acl.ResolverConfig{
		RPC: func(ctx context.Context, method structs.Method, args, reply any) error {
			req := args.(*structs.ACLResolveRequest)
			asked = append(asked, req.SecretID)
			if req.SecretID == "dflt" {
				reply.(*structs.ACLResolveResponse).Token = &structs.ACLToken{AccessorID: "acc-dflt", SecretID: "dflt",
					NodeIdentities: []*structs.ACLNodeIdentity{{NodeName: a.cfg.NodeName, Datacenter: a.cfg.Datacenter}}}
			}
			return nil
		},
		Datacenter: a.cfg.Datacenter, NodeName: a.cfg.NodeName, DefaultPolicy: "deny",
		IsAgentRecoveryToken: a.tokens.IsAgentRecoveryToken,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	authz, accessor, err := a.Authorize(ctx, "")
	if err != nil || accessor != "acc-dflt" || !authz.Allow(acl.ResourceNode, a.cfg.NodeName, acl.AccessWrite) {
		t.Fatalf("no token should resolve the default token: %q %v", accessor, err)
	}
	if _, _, err := a.Authorize(ctx, "nope"); !errors.Is(err, structs.ErrACLNotFound) {
		t.Fatalf("unknown secret: %v", err)
	}
	authz, _, err = a.Authorize(ctx, "recover")
	if err != nil || !authz.Allow(acl.ResourceAgent, a.cfg.NodeName, acl.AccessWrite) {
		t.Fatalf("recovery token: %v", err)
	}
	if strings.Join(asked, ",") != "dflt,nope" {
		t.Fatalf("servers asked about %v (the recovery token must stay local)", asked)
	}
	if err := a.SetAgentToken("agent", "agt"); err != nil || a.tokens.AgentToken() != "agt" {
		t.Fatalf("SetAgentToken: %v", err)
	}
	if err := a.SetAgentToken("bogus", "x"); !errors.Is(err, tokenstore.ErrUnknownKind) {
		t.Fatalf("SetAgentToken(bogus) = %v", err)
	}
}

func TestDamagedTokenFileStopsTheAgent(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, tokenstore.FileName), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := newACLAgent(t, nil, func(rt *config.Runtime) {
		rt.DevMode, rt.DataDir = false, dir
		rt.ACLsEnabled, rt.ACLEnableTokenPersistence = true, true
	})
	if !errors.Is(err, tokenstore.ErrDamaged) {
		t.Fatalf("New = %v, want the damaged token file named", err)
	}
}

func TestWithTokenFillsOnlyEmptyTokens(t *testing.T) {
	var seen []string
	rpc := withToken(func(ctx context.Context, method structs.Method, args, reply any) error {
		if th, ok := args.(structs.TokenHolder); ok {
			seen = append(seen, th.TokenSecret())
		} else {
			seen = append(seen, "-")
		}
		return nil
	}, func() string { return "agent-tok" })
	ctx := context.Background()
	rpc(ctx, structs.MethodCoordinateUpdate, &structs.CoordinateUpdateRequest{}, nil)
	own := &structs.CoordinateUpdateRequest{}
	own.Token = "mine"
	rpc(ctx, structs.MethodCoordinateUpdate, own, nil)
	q := &structs.ACLTokenGetRequest{}
	rpc(ctx, structs.MethodACLTokenRead, q, nil)
	rpc(ctx, structs.MethodCoordinateUpdate, struct{}{}, nil) // no token holder: passed through
	if got := strings.Join(seen, ","); got != "agent-tok,mine,agent-tok,-" {
		t.Fatalf("tokens seen = %v", seen)
	}
}

func TestMissingAgentTokenWarnsAtStart(t *testing.T) {
	var logs bytes.Buffer
	if _, err := newACLAgent(t, &logs, func(rt *config.Runtime) {
		rt.ACLsEnabled, rt.ACLDefaultPolicy = true, "deny"
	}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "no agent token is set"); n != 1 || !strings.Contains(logs.String(), "blocked by ACLs") {
		t.Fatalf("want one start-up warning about the agent token, got:\n%s", logs.String())
	}
}
