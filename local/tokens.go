package local

import "consulate/structs"

// Tokens gives the State the agent's ACL tokens. They are read at every
// use, so a token changed at run time (PUT /v1/agent/token/...) applies
// to the next sync. *tokenstore.Store implements it.
type Tokens interface {
	// UserToken is acl.tokens.default ("" when unset).
	UserToken() string
	// AgentToken is acl.tokens.agent, or the default token when unset.
	AgentToken() string
	// ConfigFileServiceRegistrationToken is
	// acl.tokens.config_file_service_registration ("" when unset).
	ConfigFileServiceRegistrationToken() string
}

// Where a sync call's token came from, as the logs name it (the secret
// itself is never logged).
const (
	tokenFromRegistration = "the token it was registered with"
	tokenFromConfigFile   = "acl.tokens.config_file_service_registration"
	tokenFromDefault      = "acl.tokens.default"
	tokenFromAgent        = "acl.tokens.agent"
	tokenFromNone         = "no token (anonymous)"
)

// syncToken is the token one sync call carries and where it came from.
type syncToken struct {
	secret string
	from   string
}

func (s *State) userToken() string {
	if s.cfg.Tokens == nil {
		return ""
	}
	return s.cfg.Tokens.UserToken()
}

// agentToken is the token of the agent's own calls: the node's info and
// the reads of anti-entropy.
func (s *State) agentToken() syncToken {
	if s.cfg.Tokens == nil {
		return syncToken{from: tokenFromNone}
	}
	if t := s.cfg.Tokens.AgentToken(); t != "" {
		return syncToken{t, tokenFromAgent}
	}
	return syncToken{from: tokenFromNone}
}

// registrationToken is the token a service or check syncs with, as
// Consul picks it: the one its registration carried (the HTTP request's,
// or the definition's `token` in a config file); for a definition from a
// config file without one, acl.tokens.config_file_service_registration;
// then the default token.
func (s *State) registrationToken(token, source string) syncToken {
	if token != "" {
		return syncToken{token, tokenFromRegistration}
	}
	if s.cfg.Tokens == nil {
		return syncToken{from: tokenFromNone}
	}
	if source == SourceConfig {
		if t := s.cfg.Tokens.ConfigFileServiceRegistrationToken(); t != "" {
			return syncToken{t, tokenFromConfigFile}
		}
	}
	if t := s.cfg.Tokens.UserToken(); t != "" {
		return syncToken{t, tokenFromDefault}
	}
	return syncToken{from: tokenFromNone}
}

// itemToken is the token a local service or check (its registration's
// token and source) syncs with: one known only from the catalog (no
// source) is the agent's to clean up; a maintenance check carries the
// maintenance request's token and falls back as an API registration.
func (s *State) itemToken(token, source string) syncToken {
	if source == "" {
		return s.agentToken()
	}
	return s.registrationToken(token, source)
}

// deregTokenLocked is the token a deregistration goes with, as Consul
// picks it: the registration's own token when it carried one, else the
// agent token (whose node:write covers all on the node), never the
// default or config-file fallbacks.
func (s *State) deregTokenLocked(own string) syncToken {
	if own != "" {
		return syncToken{own, tokenFromRegistration}
	}
	return s.agentToken()
}

// setToken puts tok on a request.
func setToken(args structs.TokenHolder, tok syncToken) {
	args.SetTokenSecret(tok.secret)
}
