// Package acl is Consul's ACL rule language and the decision made from it:
// ParsePolicy reads a policy's rules (HCL or JSON, Consul 1.16 OSS
// resources and dispositions) and NewAuthorizer answers "may this holder do
// that" for a set of policies under the agent's default policy, with
// Consul's precedence (exact over prefix, longest prefix, deny over write
// over list over read when policies overlap).
//
// It is not for storing tokens, policies or roles, resolving a secret to
// its policies, caching, or enforcing anything on an endpoint: those live
// with the catalog, the server and the HTTP layer, which call in here.
package acl
