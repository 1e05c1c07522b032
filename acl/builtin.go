package acl

// GlobalManagementRules are the rules of the built-in global-management
// policy (structs.ACLPolicyGlobalManagementID), as Consul stores them.
const GlobalManagementRules = `acl = "write"
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
mesh = "write"
peering = "write"
query_prefix "" {
  policy = "write"
}
service_prefix "" {
  policy = "write"
  intentions = "write"
}
session_prefix "" {
  policy = "write"
}
`

// ServiceIdentityPolicy is the policy Consul synthesizes for a token's
// service identity: write on the service and its sidecar proxy, read on
// every service and node (for discovery).
func ServiceIdentityPolicy(service string) *Policy {
	return &Policy{Rules: []Rule{
		{Resource: ResourceService, Name: service, Policy: PolicyWrite},
		{Resource: ResourceService, Name: service + "-sidecar-proxy", Policy: PolicyWrite},
		{Resource: ResourceService, Prefix: true, Policy: PolicyRead},
		{Resource: ResourceNode, Prefix: true, Policy: PolicyRead},
	}}
}

// NodeIdentityPolicy is the policy Consul synthesizes for a token's node
// identity: write on the node (its agent registers it), read on every
// service.
func NodeIdentityPolicy(node string) *Policy {
	return &Policy{Rules: []Rule{
		{Resource: ResourceNode, Name: node, Policy: PolicyWrite},
		{Resource: ResourceService, Prefix: true, Policy: PolicyRead},
	}}
}

// ManageAll is the authorizer of a management token (global-management, the
// initial management token): everything, ACL management included.
func ManageAll() Authorizer { return manageAll }

// AllowAll is default_policy "allow" on its own: everything except ACL
// management, which no default grants (as Consul's allow-all authorizer).
func AllowAll() Authorizer { return allowAll }

// DenyAll is default_policy "deny" on its own: nothing.
func DenyAll() Authorizer { return denyAll }

// The built-in authorizers hold no rules and never change, so one of each
// serves every caller (no allocation per request with ACLs off).
var (
	manageAll Authorizer = &policyAuthorizer{defaultAllow: true, manage: true}
	allowAll  Authorizer = &policyAuthorizer{defaultAllow: true}
	denyAll   Authorizer = &policyAuthorizer{}
)
