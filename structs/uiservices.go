package structs

// MethodInternalServiceSummary answers /v1/internal/ui/services: one
// summary per service name with its instance and check counts
// (DCSpecificRequest → IndexedServiceSummaries).
const MethodInternalServiceSummary Method = "Internal.ServiceSummary"

// ServiceSummary is one service of the UI's services list, as Consul's
// /v1/internal/ui/services answers it. The check counts cover each
// instance's own checks plus the node-level checks of its node, counted
// once per instance.
type ServiceSummary struct {
	Kind                 string
	Name                 string
	Datacenter           string
	Tags                 []string
	Nodes                []string
	ExternalSources      []string
	InstanceCount        int
	ChecksPassing        int
	ChecksWarning        int
	ChecksCritical       int
	ConnectedWithProxy   bool
	ConnectedWithGateway bool
}

// IndexedServiceSummaries is the reply of Internal.ServiceSummary, sorted
// by service name.
type IndexedServiceSummaries struct {
	Services []*ServiceSummary
	QueryMeta
}
