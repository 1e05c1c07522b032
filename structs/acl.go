package structs

import (
	"errors"
	"time"
)

// ACL objects, with the JSON field names of Consul 1.16's HTTP API (the
// official client's api.ACLToken, api.ACLPolicy, api.ACLRole decode them).

// ACLLink names a policy or role from a token or role, by ID and/or Name.
type ACLLink struct {
	ID   string
	Name string
}

// ACLServiceIdentity grants what a service instance needs (write on the
// service and its sidecar, read on all services and nodes).
type ACLServiceIdentity struct {
	ServiceName string
	Datacenters []string `json:",omitempty"`
}

// ACLNodeIdentity grants what an agent on a node needs (write on the
// node, read on all services).
type ACLNodeIdentity struct {
	NodeName   string
	Datacenter string
}

// ACLToken is a token: the SecretID is what callers present; the
// AccessorID names it in the API.
type ACLToken struct {
	AccessorID        string
	SecretID          string
	Description       string
	Policies          []*ACLLink            `json:",omitempty"`
	Roles             []*ACLLink            `json:",omitempty"`
	ServiceIdentities []*ACLServiceIdentity `json:",omitempty"`
	NodeIdentities    []*ACLNodeIdentity    `json:",omitempty"`
	// Local tokens live only in their datacenter; global ones are made in
	// the primary and replicated.
	Local          bool
	ExpirationTTL  time.Duration `json:",omitempty"`
	ExpirationTime *time.Time    `json:",omitempty"`
	CreateTime     time.Time
	Hash           []byte `json:",omitempty"`
	CreateIndex    uint64
	ModifyIndex    uint64
}

// ACLPolicy is a named set of rules (HCL or JSON).
type ACLPolicy struct {
	ID          string
	Name        string
	Description string
	Rules       string
	Datacenters []string `json:",omitempty"`
	Hash        []byte   `json:",omitempty"`
	CreateIndex uint64
	ModifyIndex uint64
}

// ACLRole is a named set of policies and identities tokens can link to.
type ACLRole struct {
	ID                string
	Name              string
	Description       string
	Policies          []*ACLLink            `json:",omitempty"`
	ServiceIdentities []*ACLServiceIdentity `json:",omitempty"`
	NodeIdentities    []*ACLNodeIdentity    `json:",omitempty"`
	Hash              []byte                `json:",omitempty"`
	CreateIndex       uint64
	ModifyIndex       uint64
}

// ACLReplicationStatus is GET /v1/acl/replication.
type ACLReplicationStatus struct {
	Enabled              bool
	Running              bool
	SourceDatacenter     string
	ReplicationType      string // "tokens" when tokens are replicated, else "policies"
	ReplicatedIndex      uint64
	ReplicatedRoleIndex  uint64
	ReplicatedTokenIndex uint64
	LastSuccess          time.Time
	LastError            time.Time
	LastErrorMessage     string
}

// Well-known ACL IDs, as in Consul.
const (
	// ACLPolicyGlobalManagementID is the built-in global-management policy.
	ACLPolicyGlobalManagementID   = "00000000-0000-0000-0000-000000000001"
	ACLPolicyGlobalManagementName = "global-management"
	// ACLTokenAnonymousID is the anonymous token's AccessorID; its
	// SecretID is "anonymous".
	ACLTokenAnonymousID     = "00000000-0000-0000-0000-000000000002"
	ACLTokenAnonymousSecret = "anonymous"
)

// ACLTokenSetRequest creates or updates a token (ACL.TokenSet).
type ACLTokenSetRequest struct {
	Datacenter string
	// ACLToken is the token to write. (Not "Token": that would hide the
	// caller's secret, WriteRequest.Token, on the wire.)
	ACLToken ACLToken
	// Create refuses an existing AccessorID/SecretID instead of updating.
	Create bool
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *ACLTokenSetRequest) RequestDatacenter() string { return r.Datacenter }

// ACLTokenGetRequest reads one token by AccessorID (ACL.TokenRead) or,
// with BySecret, by SecretID (ACL.TokenSelf).
type ACLTokenGetRequest struct {
	Datacenter string
	TokenID    string
	BySecret   bool
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *ACLTokenGetRequest) RequestDatacenter() string { return r.Datacenter }

// ACLTokenDeleteRequest deletes a token by AccessorID (ACL.TokenDelete).
type ACLTokenDeleteRequest struct {
	Datacenter string
	TokenID    string
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *ACLTokenDeleteRequest) RequestDatacenter() string { return r.Datacenter }

// ACLTokenListRequest lists tokens (ACL.TokenList), optionally those that
// link a policy or role.
type ACLTokenListRequest struct {
	Datacenter                  string
	IncludeLocal, IncludeGlobal bool
	Policy, Role                string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *ACLTokenListRequest) RequestDatacenter() string { return r.Datacenter }

// ACLTokenResponse is one token (nil when not found).
type ACLTokenResponse struct {
	Token *ACLToken
	QueryMeta
}

// ACLTokensResponse is a list of tokens.
type ACLTokensResponse struct {
	Tokens []*ACLToken
	QueryMeta
}

// ACLPolicySetRequest creates or updates a policy (ACL.PolicySet).
type ACLPolicySetRequest struct {
	Datacenter string
	Policy     ACLPolicy
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *ACLPolicySetRequest) RequestDatacenter() string { return r.Datacenter }

// ACLPolicyGetRequest reads one policy by ID or, with ByName, by name
// (ACL.PolicyRead).
type ACLPolicyGetRequest struct {
	Datacenter string
	PolicyID   string
	ByName     bool
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *ACLPolicyGetRequest) RequestDatacenter() string { return r.Datacenter }

// ACLPolicyDeleteRequest deletes a policy by ID (ACL.PolicyDelete).
type ACLPolicyDeleteRequest struct {
	Datacenter string
	PolicyID   string
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *ACLPolicyDeleteRequest) RequestDatacenter() string { return r.Datacenter }

// ACLPolicyResponse is one policy (nil when not found).
type ACLPolicyResponse struct {
	Policy *ACLPolicy
	QueryMeta
}

// ACLPoliciesResponse is a list of policies (ACL.PolicyList).
type ACLPoliciesResponse struct {
	Policies []*ACLPolicy
	QueryMeta
}

// ACLRoleSetRequest creates or updates a role (ACL.RoleSet).
type ACLRoleSetRequest struct {
	Datacenter string
	Role       ACLRole
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *ACLRoleSetRequest) RequestDatacenter() string { return r.Datacenter }

// ACLRoleGetRequest reads one role by ID or, with ByName, by name
// (ACL.RoleRead).
type ACLRoleGetRequest struct {
	Datacenter string
	RoleID     string
	ByName     bool
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *ACLRoleGetRequest) RequestDatacenter() string { return r.Datacenter }

// ACLRoleDeleteRequest deletes a role by ID (ACL.RoleDelete).
type ACLRoleDeleteRequest struct {
	Datacenter string
	RoleID     string
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *ACLRoleDeleteRequest) RequestDatacenter() string { return r.Datacenter }

// ACLRoleResponse is one role (nil when not found).
type ACLRoleResponse struct {
	Role *ACLRole
	QueryMeta
}

// ACLRolesResponse is a list of roles (ACL.RoleList).
type ACLRolesResponse struct {
	Roles []*ACLRole
	QueryMeta
}

// ACLBootstrapRequest bootstraps the ACL system (ACL.Bootstrap): once, or
// again with the reset index Consul writes to acl-bootstrap-reset.
type ACLBootstrapRequest struct {
	Datacenter string
	ResetIndex uint64
	// BootstrapSecret, when set, is the SecretID the bootstrap token gets
	// (api.ACL.BootstrapWithToken) instead of a generated one.
	BootstrapSecret string
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *ACLBootstrapRequest) RequestDatacenter() string { return r.Datacenter }

// ACLResolveRequest asks a server for everything needed to authorize a
// secret (ACL.Resolve): the token and the policies and roles it links.
type ACLResolveRequest struct {
	Datacenter string
	SecretID   string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *ACLResolveRequest) RequestDatacenter() string { return r.Datacenter }

// ACLResolveResponse carries a resolved token; Token nil means the secret
// is unknown ("ACL not found").
type ACLResolveResponse struct {
	Token    *ACLToken
	Policies []*ACLPolicy
	Roles    []*ACLRole
	QueryMeta
}

// ACLPolicyGlobalManagementRules are the rules of the builtin
// global-management policy: write on everything.
const ACLPolicyGlobalManagementRules = `acl = "write"
agent_prefix "" {
  policy = "write"
}
event_prefix "" {
  policy = "write"
}
key_prefix "" {
  policy = "write"
}
keyring = "write"
node_prefix "" {
  policy = "write"
}
operator = "write"
query_prefix "" {
  policy = "write"
}
service_prefix "" {
  policy = "write"
}
session_prefix "" {
  policy = "write"
}
`

// ErrACLDisabled is Consul's answer of every ACL endpoint while ACLs are
// off (HTTP 401 in Consul). The server returns it joined with a
// *BadRequestError.
var ErrACLDisabled = errors.New("ACL support disabled")

// ErrACLBootstrapNotAllowed starts the error of a second ACL.Bootstrap
// ("ACL bootstrap no longer allowed (reset index: N)"); Consul's HTTP API
// answers it with 403 "Permission denied: " and the text.
var ErrACLBootstrapNotAllowed = errors.New("ACL bootstrap no longer allowed")
