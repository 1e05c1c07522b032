package structs

// MethodInternalUIFederation answers /v1/internal/ui/federation for client
// agents from a server's WAN view, blocking on MinQueryIndex
// (DCSpecificRequest → UIFederationReply).
const MethodInternalUIFederation Method = "Internal.UIFederation"

// UIFederationReply carries a server's /v1/internal/ui/federation answer,
// already in its JSON form, and the index it belongs to.
type UIFederationReply struct {
	JSON  []byte
	Index uint64
}
