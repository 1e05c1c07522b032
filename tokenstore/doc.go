// Package tokenstore holds the agent's own ACL tokens: the default (user)
// token, the agent token, the agent recovery token, the replication token
// and the token for services registered from config files.
//
// Tokens start as configured (acl.tokens); `consulate acl set-agent-token`
// (PUT /v1/agent/token/:type) replaces them at run time through Set, with
// Consul's type names and their legacy spellings. With
// acl.enable_token_persistence the tokens set through the API are written
// to <data-dir>/acl-tokens.json, Consul's file name and JSON keys, and
// Load reads them back at start, where, as in Consul, a persisted token
// wins over the configured one.
//
// It does not resolve tokens or decide anything with them: it only hands
// them out.
package tokenstore
