package agent

import (
	"context"
	"fmt"

	"consulate/acl"
	"consulate/config"
	"consulate/structs"
	"consulate/tokenstore"
)

// rpcFunc is the agent's RPC signature, as local/, cache/ and dns/ take it.
type rpcFunc = func(ctx context.Context, method structs.Method, args, reply any) error

// newTokenStore builds the agent's token store from the configuration
// and applies the persisted tokens; a file that cannot be decoded stops
// the agent. Without a data directory (dev mode) nothing persists.
func newTokenStore(rt *config.Runtime, dataDir string, a *Agent) (*tokenstore.Store, error) {
	persist := rt.ACLEnableTokenPersistence
	if persist && dataDir == "" {
		a.logger.Warn("acl.enable_token_persistence has no effect without a data directory")
		persist = false
	}
	ts, err := tokenstore.New(tokenstore.Config{
		DataDir: dataDir, EnablePersistence: persist,
		Default: rt.ACLTokens.Default, Agent: rt.ACLTokens.Agent, AgentRecovery: rt.ACLTokens.AgentRecovery,
		Replication: rt.ACLTokens.Replication, ConfigFileServiceRegistration: rt.ACLTokens.ConfigFileServiceRegistration,
		Logger: a.logger,
	})
	if err != nil {
		return nil, err
	}
	if err := ts.Load(); err != nil {
		return nil, fmt.Errorf("ACL tokens: %w", err)
	}
	return ts, nil
}

// newResolver builds the agent's ACL resolver (ACLs on only).
func (a *Agent) newResolver() (*acl.Resolver, error) {
	rt := a.cfg
	return acl.NewResolver(acl.ResolverConfig{
		RPC: a.RPC, Datacenter: rt.Datacenter, NodeName: rt.NodeName,
		DefaultPolicy: rt.ACLDefaultPolicy, DownPolicy: rt.ACLDownPolicy,
		TokenTTL: rt.ACLTokenTTL, PolicyTTL: rt.ACLPolicyTTL, RoleTTL: rt.ACLRoleTTL,
		IsAgentRecoveryToken: a.tokens.IsAgentRecoveryToken,
		Logger:               a.base,
	})
}

// warnMissingAgentToken says at start, once, what an agent without an
// agent token will see with ACLs on.
func (a *Agent) warnMissingAgentToken() {
	if !a.cfg.ACLsEnabled || a.tokens.AgentToken() != "" {
		return
	}
	msg := "ACLs are enabled but no agent token is set (acl.tokens.agent), nor a default token: the agent's own calls (its node's info in the catalog, coordinate updates), and services and checks registered without a token, use the anonymous token"
	if a.cfg.ACLDefaultPolicy == "deny" {
		msg += ", and with default_policy deny they will be blocked by ACLs until one is set (consulate acl set-agent-token agent TOKEN)"
	}
	a.logger.Warn(msg)
}

// Authorize resolves a token secret for the agent-local HTTP endpoints.
// A request without a token uses the default token (acl.tokens.default),
// else the anonymous one, as Consul. With ACLs off it manages everything.
func (a *Agent) Authorize(ctx context.Context, secret string) (acl.Authorizer, string, error) {
	if a.resolver == nil {
		return acl.ManageAll(), "", nil
	}
	if secret == "" {
		secret = a.tokens.UserToken()
	}
	authz, tok, err := a.resolver.Resolve(ctx, secret)
	if err != nil {
		return nil, "", err
	}
	accessor := ""
	if tok != nil {
		accessor = tok.AccessorID
	}
	return authz, accessor, nil
}

// SetAgentToken replaces one of the agent's tokens, named as PUT
// /v1/agent/token/:type names it (tokenstore.ParseKind; an unknown name
// wraps tokenstore.ErrUnknownKind).
func (a *Agent) SetAgentToken(kind, secret string) error {
	if a.resolver == nil {
		return structs.ErrACLDisabled
	}
	if err := a.tokens.Set(kind, secret); err != nil {
		return err
	}
	a.logger.Info("updated agent ACL token", "token", kind)
	// Anti-entropy syncs with these: retry what they were refused for
	// now, as Consul does.
	if k, err := tokenstore.ParseKind(kind); err == nil && a.state != nil &&
		(k == tokenstore.KindDefault || k == tokenstore.KindAgent || k == tokenstore.KindConfigFileServiceRegistration) {
		a.state.TriggerFullSync()
	}
	return nil
}

// rpcWithToken wraps the agent's RPC so requests that carry no token get
// tok()'s (the default token for DNS and user requests without one).
// Local state picks its calls' tokens itself (local.Config.Tokens) and
// logs the refusals, naming the token it used.
func (a *Agent) rpcWithToken(tok func() string) rpcFunc { return withToken(a.RPC, tok) }

// withToken wraps rpc so requests without a token carry tok()'s.
func withToken(rpc rpcFunc, tok func() string) rpcFunc {
	return func(ctx context.Context, method structs.Method, args, reply any) error {
		if th, ok := args.(structs.TokenHolder); ok && th.TokenSecret() == "" {
			if t := tok(); t != "" {
				th.SetTokenSecret(t)
			}
		}
		return rpc(ctx, method, args, reply)
	}
}
