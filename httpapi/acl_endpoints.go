package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"consulate/acl"
	"consulate/httpapi/filter"
	"consulate/structs"
)

// The /v1/acl endpoints, as Consul 1.16's: every call goes to a server
// through the agent's RPC with the caller's token. Policy and role list
// reads and the replication status send a structs.DCSpecificRequest.
// Reply types are Consul's: TokenSet/Bootstrap *ACLToken, PolicySet
// *ACLPolicy, RoleSet *ACLRole, TokenDelete and PolicyDelete *string (the
// ID), RoleDelete *bool, ReplicationStatus *ACLReplicationStatus.

// errACLDisabledText is what a server answers when ACLs are off; the
// HTTP API answers it 401, as Consul.
const errACLDisabledText = "ACL support disabled"

// aclTokenListEntry is one row of GET /v1/acl/tokens (api.ACLTokenListEntry).
type aclTokenListEntry struct {
	CreateIndex       uint64
	ModifyIndex       uint64
	AccessorID        string
	SecretID          string
	Description       string
	Policies          []*structs.ACLLink            `json:",omitempty"`
	Roles             []*structs.ACLLink            `json:",omitempty"`
	ServiceIdentities []*structs.ACLServiceIdentity `json:",omitempty"`
	NodeIdentities    []*structs.ACLNodeIdentity    `json:",omitempty"`
	Local             bool
	ExpirationTime    *time.Time `json:",omitempty"`
	CreateTime        time.Time
	Hash              []byte
	Legacy            bool
}

// aclPolicyListEntry is one row of GET /v1/acl/policies (no Rules).
type aclPolicyListEntry struct {
	ID          string
	Name        string
	Description string
	Datacenters []string
	Hash        []byte
	CreateIndex uint64
	ModifyIndex uint64
}

// aclBootstrapResponse is the bootstrap token with the legacy ID field
// (the SecretID) Consul still sends.
type aclBootstrapResponse struct {
	ID string
	*structs.ACLToken
}

// jsonDuration decodes a duration given as a Go duration string ("1h")
// or as nanoseconds (what the official client sends).
type jsonDuration time.Duration

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			*d = 0
			return nil
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid duration %q: %v", s, err)
		}
		*d = jsonDuration(v)
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("invalid duration %s", b)
	}
	*d = jsonDuration(n)
	return nil
}

// aclTokenBody is a token as written by clients: ExpirationTTL may be a
// string.
type aclTokenBody struct {
	structs.ACLToken
	ExpirationTTL jsonDuration
}

func (b *aclTokenBody) token() structs.ACLToken {
	t := b.ACLToken
	t.ExpirationTTL = time.Duration(b.ExpirationTTL)
	return t
}

// aclError gives ACL errors Consul's status codes: "ACL support disabled"
// is a 401, a refused bootstrap a 403.
func aclError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, errACLDisabledText):
		return &codedError{http.StatusUnauthorized, errACLDisabledText}
	case errors.Is(err, structs.ErrPermissionDenied), errors.Is(err, structs.ErrACLNotFound):
		return err
	case strings.Contains(msg, "ACL bootstrap no longer allowed"), strings.Contains(msg, "Invalid bootstrap reset index"):
		return &codedError{http.StatusForbidden, structs.ErrPermissionDenied.Error() + ": " + msg}
	}
	return err
}

func (s *Server) aclRead(w http.ResponseWriter, r *http.Request, method structs.Method, q *structs.QueryOptions, args, reply any, meta *structs.QueryMeta) error {
	return aclError(s.rpcRead(w, r, method, q, args, reply, meta))
}

func (s *Server) aclWrite(r *http.Request, method structs.Method, args, reply any) error {
	return aclError(s.agent.RPC(r.Context(), method, args, reply))
}

// --- bootstrap and replication ---

func (s *Server) aclBootstrap(w http.ResponseWriter, r *http.Request) (any, error) {
	var body struct{ BootstrapSecret string }
	if err := s.decodeBody(r, &body, true, false); err != nil {
		return nil, err
	}
	args := structs.ACLBootstrapRequest{BootstrapSecret: body.BootstrapSecret}
	parseWrite(r, nil, &args.WriteRequest)
	var out structs.ACLToken
	if err := s.aclWrite(r, structs.MethodACLBootstrap, &args, &out); err != nil {
		return nil, err
	}
	return &aclBootstrapResponse{ID: out.SecretID, ACLToken: &out}, nil
}

func (s *Server) aclReplication(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.DCSpecificRequest
	if _, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions); err != nil {
		return nil, err
	}
	var out structs.ACLReplicationStatus
	if err := aclError(s.agent.RPC(r.Context(), structs.MethodACLReplicationStatus, &args, &out)); err != nil {
		return nil, err
	}
	return &out, nil
}

// --- tokens ---

// aclTokenCreate is PUT /v1/acl/token.
func (s *Server) aclTokenCreate(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.aclTokenSet(r, "", true)
}

// aclToken serves /v1/acl/token/: self, :id (GET/PUT/DELETE) and
// :id/clone (PUT).
func (s *Server) aclToken(w http.ResponseWriter, r *http.Request) (any, error) {
	id := tail(r, "/v1/acl/token/")
	if id == "self" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		return s.aclTokenGet(w, r, "", true)
	}
	if cloned, ok := strings.CutSuffix(id, "/clone"); ok && r.Method == http.MethodPut {
		if cloned == "" {
			return nil, badRequest("Missing token ID")
		}
		return s.aclTokenClone(r, cloned)
	}
	if id == "" {
		return nil, badRequest("Missing token ID")
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return s.aclTokenGet(w, r, id, false)
	case http.MethodPut:
		return s.aclTokenSet(r, id, false)
	case http.MethodDelete:
		args := structs.ACLTokenDeleteRequest{TokenID: id}
		parseWrite(r, &args.Datacenter, &args.WriteRequest)
		var deleted string
		if err := s.aclWrite(r, structs.MethodACLTokenDelete, &args, &deleted); err != nil {
			return nil, err
		}
		return true, nil
	}
	return nil, &codedError{http.StatusMethodNotAllowed, "method " + r.Method + " not allowed"}
}

// aclTokenGet reads a token by AccessorID, or the caller's own by its
// secret. A token nobody knows is Consul's 403 "ACL not found".
func (s *Server) aclTokenGet(w http.ResponseWriter, r *http.Request, id string, self bool) (any, error) {
	args := structs.ACLTokenGetRequest{TokenID: id}
	if _, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions); err != nil {
		return nil, err
	}
	if self {
		args.TokenID, args.BySecret = args.Token, true
	}
	var out structs.ACLTokenResponse
	if err := s.aclRead(w, r, structs.MethodACLTokenRead, &args.QueryOptions, &args, &out, &out.QueryMeta); err != nil {
		return nil, err
	}
	if out.Token == nil {
		return nil, structs.ErrACLNotFound
	}
	return out.Token, nil
}

// aclTokenSet creates (id "" or create) or updates the token with
// AccessorID id from the body.
func (s *Server) aclTokenSet(r *http.Request, id string, create bool) (any, error) {
	var body aclTokenBody
	if err := s.decodeBody(r, &body, false, false); err != nil {
		return nil, err
	}
	args := structs.ACLTokenSetRequest{ACLToken: body.token(), Create: create}
	parseWrite(r, &args.Datacenter, &args.WriteRequest)
	if !create {
		if args.ACLToken.AccessorID != "" && args.ACLToken.AccessorID != id {
			return nil, badRequest("Token Accessor ID in URL and payload do not match")
		}
		args.ACLToken.AccessorID = id
	}
	var out structs.ACLToken
	if err := s.aclWrite(r, structs.MethodACLTokenSet, &args, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// aclTokenClone makes a new token with the links and locality of the
// token id, and the body's Description (the original's when empty).
func (s *Server) aclTokenClone(r *http.Request, id string) (any, error) {
	var body struct{ Description string }
	if err := s.decodeBody(r, &body, true, false); err != nil {
		return nil, err
	}
	get := structs.ACLTokenGetRequest{TokenID: id}
	var dc string
	parseWrite(r, &dc, nil)
	get.Datacenter, get.Token = dc, token(r)
	var orig structs.ACLTokenResponse
	if err := s.aclWrite(r, structs.MethodACLTokenRead, &get, &orig); err != nil {
		return nil, err
	}
	if orig.Token == nil {
		return nil, structs.ErrACLNotFound
	}
	t := orig.Token
	clone := structs.ACLToken{
		Description: t.Description, Policies: t.Policies, Roles: t.Roles,
		ServiceIdentities: t.ServiceIdentities, NodeIdentities: t.NodeIdentities,
		Local: t.Local, ExpirationTime: t.ExpirationTime,
	}
	if body.Description != "" {
		clone.Description = body.Description
	}
	args := structs.ACLTokenSetRequest{Datacenter: dc, ACLToken: clone, Create: true}
	parseWrite(r, nil, &args.WriteRequest)
	var out structs.ACLToken
	if err := s.aclWrite(r, structs.MethodACLTokenSet, &args, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s *Server) aclTokenList(w http.ResponseWriter, r *http.Request) (any, error) {
	args := structs.ACLTokenListRequest{IncludeLocal: true, IncludeGlobal: true}
	f, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	if err := validateFilter(f, &aclTokenListEntry{}); err != nil {
		return nil, err
	}
	q := query(r)
	args.Policy, args.Role = q.Get("policy"), q.Get("role")
	var out structs.ACLTokensResponse
	if err := s.aclRead(w, r, structs.MethodACLTokenList, &args.QueryOptions, &args, &out, &out.QueryMeta); err != nil {
		return nil, err
	}
	list := make([]*aclTokenListEntry, 0, len(out.Tokens))
	for _, t := range out.Tokens {
		e := &aclTokenListEntry{
			CreateIndex: t.CreateIndex, ModifyIndex: t.ModifyIndex, AccessorID: t.AccessorID,
			SecretID: t.SecretID, Description: t.Description, Policies: t.Policies, Roles: t.Roles,
			ServiceIdentities: t.ServiceIdentities, NodeIdentities: t.NodeIdentities, Local: t.Local,
			ExpirationTime: t.ExpirationTime, CreateTime: t.CreateTime, Hash: t.Hash,
		}
		if matches(f, e) {
			list = append(list, e)
		}
	}
	return list, nil
}

func matches(f *filter.Expr, v any) bool { return f == nil || f.Match(v) }

// --- policies ---

func (s *Server) aclPolicyCreate(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.aclPolicySet(r, "")
}

// aclPolicy serves /v1/acl/policy/:id (GET/PUT/DELETE).
func (s *Server) aclPolicy(w http.ResponseWriter, r *http.Request) (any, error) {
	id := tail(r, "/v1/acl/policy/")
	if id == "" {
		return nil, badRequest("Missing policy ID")
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return s.aclPolicyGet(w, r, id, false)
	case http.MethodPut:
		return s.aclPolicySet(r, id)
	case http.MethodDelete:
		args := structs.ACLPolicyDeleteRequest{PolicyID: id}
		parseWrite(r, &args.Datacenter, &args.WriteRequest)
		var deleted string
		if err := s.aclWrite(r, structs.MethodACLPolicyDelete, &args, &deleted); err != nil {
			return nil, err
		}
		return true, nil
	}
	return nil, &codedError{http.StatusMethodNotAllowed, "method " + r.Method + " not allowed"}
}

// aclPolicyByName is GET /v1/acl/policy/name/:name.
func (s *Server) aclPolicyByName(w http.ResponseWriter, r *http.Request) (any, error) {
	name, err := url.PathUnescape(tail(r, "/v1/acl/policy/name/"))
	if err != nil || name == "" {
		return nil, badRequest("Missing policy Name")
	}
	return s.aclPolicyGet(w, r, name, true)
}

// aclPolicyGet reads a policy; one nobody knows is Consul's 403 "ACL not
// found".
func (s *Server) aclPolicyGet(w http.ResponseWriter, r *http.Request, id string, byName bool) (any, error) {
	args := structs.ACLPolicyGetRequest{PolicyID: id, ByName: byName}
	if _, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions); err != nil {
		return nil, err
	}
	var out structs.ACLPolicyResponse
	if err := s.aclRead(w, r, structs.MethodACLPolicyRead, &args.QueryOptions, &args, &out, &out.QueryMeta); err != nil {
		return nil, err
	}
	if out.Policy == nil {
		return nil, structs.ErrACLNotFound
	}
	return out.Policy, nil
}

func (s *Server) aclPolicySet(r *http.Request, id string) (any, error) {
	args := structs.ACLPolicySetRequest{}
	if err := s.decodeBody(r, &args.Policy, false, false); err != nil {
		return nil, err
	}
	parseWrite(r, &args.Datacenter, &args.WriteRequest)
	if args.Policy.ID != "" && args.Policy.ID != id {
		return nil, badRequest("Policy ID in URL and payload do not match")
	}
	args.Policy.ID = id
	var out structs.ACLPolicy
	if err := s.aclWrite(r, structs.MethodACLPolicySet, &args, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s *Server) aclPolicyList(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.DCSpecificRequest
	f, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	if err := validateFilter(f, &aclPolicyListEntry{}); err != nil {
		return nil, err
	}
	var out structs.ACLPoliciesResponse
	if err := s.aclRead(w, r, structs.MethodACLPolicyList, &args.QueryOptions, &args, &out, &out.QueryMeta); err != nil {
		return nil, err
	}
	list := make([]*aclPolicyListEntry, 0, len(out.Policies))
	for _, p := range out.Policies {
		e := &aclPolicyListEntry{ID: p.ID, Name: p.Name, Description: p.Description,
			Datacenters: p.Datacenters, Hash: p.Hash, CreateIndex: p.CreateIndex, ModifyIndex: p.ModifyIndex}
		if matches(f, e) {
			list = append(list, e)
		}
	}
	return list, nil
}

// --- roles ---

func (s *Server) aclRoleCreate(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.aclRoleSet(r, "")
}

// aclRole serves /v1/acl/role/:id (GET/PUT/DELETE).
func (s *Server) aclRole(w http.ResponseWriter, r *http.Request) (any, error) {
	id := tail(r, "/v1/acl/role/")
	if id == "" {
		return nil, badRequest("Missing role ID")
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return s.aclRoleGet(w, r, id, false)
	case http.MethodPut:
		return s.aclRoleSet(r, id)
	case http.MethodDelete:
		args := structs.ACLRoleDeleteRequest{RoleID: id}
		parseWrite(r, &args.Datacenter, &args.WriteRequest)
		var deleted string
		if err := s.aclWrite(r, structs.MethodACLRoleDelete, &args, &deleted); err != nil {
			return nil, err
		}
		return true, nil
	}
	return nil, &codedError{http.StatusMethodNotAllowed, "method " + r.Method + " not allowed"}
}

// aclRoleByName is GET /v1/acl/role/name/:name.
func (s *Server) aclRoleByName(w http.ResponseWriter, r *http.Request) (any, error) {
	name, err := url.PathUnescape(tail(r, "/v1/acl/role/name/"))
	if err != nil || name == "" {
		return nil, badRequest("Missing role Name")
	}
	return s.aclRoleGet(w, r, name, true)
}

// aclRoleGet reads a role; as Consul, one nobody knows is a 404 with no
// body (the official client then returns nil, nil).
func (s *Server) aclRoleGet(w http.ResponseWriter, r *http.Request, id string, byName bool) (any, error) {
	args := structs.ACLRoleGetRequest{RoleID: id, ByName: byName}
	if _, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions); err != nil {
		return nil, err
	}
	var out structs.ACLRoleResponse
	if err := s.aclRead(w, r, structs.MethodACLRoleRead, &args.QueryOptions, &args, &out, &out.QueryMeta); err != nil {
		return nil, err
	}
	if out.Role == nil {
		w.WriteHeader(http.StatusNotFound)
		return nil, nil
	}
	return out.Role, nil
}

func (s *Server) aclRoleSet(r *http.Request, id string) (any, error) {
	args := structs.ACLRoleSetRequest{}
	if err := s.decodeBody(r, &args.Role, false, false); err != nil {
		return nil, err
	}
	parseWrite(r, &args.Datacenter, &args.WriteRequest)
	if args.Role.ID != "" && args.Role.ID != id {
		return nil, badRequest("Role ID in URL and payload do not match")
	}
	args.Role.ID = id
	var out structs.ACLRole
	if err := s.aclWrite(r, structs.MethodACLRoleSet, &args, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (s *Server) aclRoleList(w http.ResponseWriter, r *http.Request) (any, error) {
	var args structs.DCSpecificRequest
	f, err := s.parseRead(r, &args.Datacenter, &args.QueryOptions)
	if err != nil {
		return nil, err
	}
	if err := validateFilter(f, &structs.ACLRole{}); err != nil {
		return nil, err
	}
	var out structs.ACLRolesResponse
	if err := s.aclRead(w, r, structs.MethodACLRoleList, &args.QueryOptions, &args, &out, &out.QueryMeta); err != nil {
		return nil, err
	}
	list := make([]*structs.ACLRole, 0, len(out.Roles))
	for _, ro := range out.Roles {
		if matches(f, ro) {
			list = append(list, ro)
		}
	}
	return list, nil
}

// --- agent tokens ---

// agentTokenKinds maps the names /v1/agent/token/ takes, current and
// legacy, to the kind passed to Agent.SetAgentToken.
var agentTokenKinds = map[string]string{
	"default":                          AgentTokenDefault,
	"acl_token":                        AgentTokenDefault,
	"agent":                            AgentTokenAgent,
	"acl_agent_token":                  AgentTokenAgent,
	"agent_recovery":                   AgentTokenAgentRecovery,
	"agent_master":                     AgentTokenAgentRecovery,
	"acl_agent_master_token":           AgentTokenAgentRecovery,
	"replication":                      AgentTokenReplication,
	"acl_replication_token":            AgentTokenReplication,
	"config_file_service_registration": AgentTokenConfigFileServiceRegistration,
}

// agentToken is PUT /v1/agent/token/:type with {"Token": "..."}.
func (s *Server) agentToken(w http.ResponseWriter, r *http.Request) (any, error) {
	// The ACL check first, as Consul: an unauthorised caller learns
	// nothing about token types or its body.
	if err := s.authorizeFor(r, acl.ResourceACL, "", acl.AccessWrite); err != nil {
		return nil, err
	}
	name := tail(r, "/v1/agent/token/")
	var body struct{ Token string }
	if err := s.decodeBody(r, &body, false, false); err != nil {
		return nil, err
	}
	kind, ok := agentTokenKinds[name]
	if !ok {
		return nil, notFound("Token %q is unknown", name)
	}
	if err := aclError(s.agent.SetAgentToken(kind, body.Token)); err != nil {
		return nil, err
	}
	s.logger.Info("Updated agent's ACL token", "token", name)
	return nil, nil
}
