package structs

import "strings"

// Health check states, as Consul names them.
const (
	HealthAny      = "any"
	HealthPassing  = "passing"
	HealthWarning  = "warning"
	HealthCritical = "critical"
	HealthMaint    = "maintenance"
)

// SerfCheckID is the node-level check the leader keeps for each LAN member.
const (
	SerfCheckID   = "serfHealth"
	SerfCheckName = "Serf Health Status"
	// ConsulServiceID is the service the leader registers on every server.
	ConsulServiceID = "consul"
	// NodeMaintCheckID is the check that puts a whole node in maintenance.
	NodeMaintCheckID = "_node_maintenance"
	// ServiceMaintPrefix prefixes the per-service maintenance check ID.
	ServiceMaintPrefix = "_service_maintenance:"
)

// Node is a row of the catalog's node table.
type Node struct {
	ID              string
	Node            string
	Address         string
	Datacenter      string
	TaggedAddresses map[string]string
	Meta            map[string]string
	CreateIndex     uint64
	ModifyIndex     uint64
}

// Nodes is a list of nodes.
type Nodes []*Node

// ServiceAddress is an address and port a service can be reached at.
type ServiceAddress struct {
	Address string
	Port    int
}

// Weights are the SRV weights of a service by health state.
type Weights struct {
	Passing int
	Warning int
}

// NodeService is a service instance as registered on a node.
type NodeService struct {
	Kind              string `json:",omitempty"`
	ID                string
	Service           string
	Tags              []string
	Address           string
	TaggedAddresses   map[string]ServiceAddress `json:",omitempty"`
	Meta              map[string]string
	Port              int
	Weights           *Weights
	EnableTagOverride bool
	Datacenter        string `json:",omitempty"`
	CreateIndex       uint64
	ModifyIndex       uint64
}

// ServiceNode is the flattened node+service row /v1/catalog/service returns.
type ServiceNode struct {
	ID                       string
	Node                     string
	Address                  string
	Datacenter               string
	TaggedAddresses          map[string]string
	NodeMeta                 map[string]string
	ServiceKind              string
	ServiceID                string
	ServiceName              string
	ServiceTags              []string
	ServiceAddress           string
	ServiceTaggedAddresses   map[string]ServiceAddress `json:",omitempty"`
	ServiceWeights           Weights
	ServiceMeta              map[string]string
	ServicePort              int
	ServiceEnableTagOverride bool
	CreateIndex              uint64
	ModifyIndex              uint64
}

// ServiceNodes is a list of service nodes.
type ServiceNodes []*ServiceNode

// HealthCheckDefinition records how a check is run.
type HealthCheckDefinition struct {
	HTTP                           string              `json:",omitempty"`
	Header                         map[string][]string `json:",omitempty"`
	Method                         string              `json:",omitempty"`
	Body                           string              `json:",omitempty"`
	TLSSkipVerify                  bool                `json:",omitempty"`
	TCP                            string              `json:",omitempty"`
	UDP                            string              `json:",omitempty"`
	GRPC                           string              `json:",omitempty"`
	GRPCUseTLS                     bool                `json:",omitempty"`
	OSService                      string              `json:",omitempty"`
	Interval                       string              `json:",omitempty"`
	Timeout                        string              `json:",omitempty"`
	DeregisterCriticalServiceAfter string              `json:",omitempty"`
}

// HealthCheck is a row of the catalog's check table.
type HealthCheck struct {
	Node        string
	CheckID     string
	Name        string
	Status      string
	Notes       string
	Output      string
	ServiceID   string
	ServiceName string
	ServiceTags []string
	Type        string
	ExposedPort int
	Definition  HealthCheckDefinition
	CreateIndex uint64
	ModifyIndex uint64
}

// HealthChecks is a list of checks.
type HealthChecks []*HealthCheck

// AggregatedStatus folds a list of checks into one status: critical beats
// warning beats passing; maintenance counts as critical.
func (c HealthChecks) AggregatedStatus() string {
	var warning, critical bool
	for _, ch := range c {
		switch ch.Status {
		case HealthWarning:
			warning = true
		case HealthCritical, HealthMaint:
			critical = true
		}
	}
	switch {
	case critical:
		return HealthCritical
	case warning:
		return HealthWarning
	}
	return HealthPassing
}

// CheckServiceNode is a service instance with its node and all checks that
// apply to it (node checks and its own), as /v1/health/service returns.
type CheckServiceNode struct {
	Node    *Node
	Service *NodeService
	Checks  HealthChecks
}

// CheckServiceNodes is a list of CheckServiceNode.
type CheckServiceNodes []CheckServiceNode

// NodeServices is a node with the services registered on it.
type NodeServices struct {
	Node     *Node
	Services map[string]*NodeService
}

// ToServiceNode flattens a node and one of its services.
func ToServiceNode(n *Node, s *NodeService) *ServiceNode {
	w := Weights{Passing: 1, Warning: 1}
	if s.Weights != nil {
		w = *s.Weights
	}
	return &ServiceNode{
		ID: n.ID, Node: n.Node, Address: n.Address, Datacenter: n.Datacenter,
		TaggedAddresses: n.TaggedAddresses, NodeMeta: n.Meta,
		ServiceKind: s.Kind, ServiceID: s.ID, ServiceName: s.Service, ServiceTags: s.Tags,
		ServiceAddress: s.Address, ServiceTaggedAddresses: s.TaggedAddresses,
		ServiceWeights: w, ServiceMeta: s.Meta, ServicePort: s.Port,
		ServiceEnableTagOverride: s.EnableTagOverride,
		CreateIndex:              s.CreateIndex, ModifyIndex: s.ModifyIndex,
	}
}

// RegisterRequest registers a node and optionally a service and checks on it.
type RegisterRequest struct {
	Datacenter      string
	ID              string
	Node            string
	Address         string
	TaggedAddresses map[string]string
	NodeMeta        map[string]string
	Service         *NodeService
	Check           *HealthCheck
	Checks          HealthChecks
	// SkipNodeUpdate leaves an existing node's fields alone.
	SkipNodeUpdate bool
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *RegisterRequest) RequestDatacenter() string { return r.Datacenter }

// DeregisterRequest removes a node, or one service or check on it.
type DeregisterRequest struct {
	Datacenter string
	Node       string
	ServiceID  string
	CheckID    string
	WriteRequest
}

// RequestDatacenter implements RPCInfo.
func (r *DeregisterRequest) RequestDatacenter() string { return r.Datacenter }

// DCSpecificRequest is a read scoped only by datacenter.
type DCSpecificRequest struct {
	Datacenter      string
	NodeMetaFilters map[string]string
	Source          QuerySource
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *DCSpecificRequest) RequestDatacenter() string { return r.Datacenter }

// ServiceSpecificRequest reads one service's instances.
type ServiceSpecificRequest struct {
	Datacenter      string
	ServiceName     string
	ServiceTags     []string
	TagFilter       bool
	NodeMetaFilters map[string]string
	ServiceAddress  string
	Source          QuerySource
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *ServiceSpecificRequest) RequestDatacenter() string { return r.Datacenter }

// NodeSpecificRequest reads something about one node.
type NodeSpecificRequest struct {
	Datacenter string
	Node       string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *NodeSpecificRequest) RequestDatacenter() string { return r.Datacenter }

// ChecksInStateRequest reads checks in one state (or "any").
type ChecksInStateRequest struct {
	Datacenter      string
	State           string
	NodeMetaFilters map[string]string
	Source          QuerySource
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *ChecksInStateRequest) RequestDatacenter() string { return r.Datacenter }

// IndexedNodes is the reply to Catalog.ListNodes.
type IndexedNodes struct {
	Nodes Nodes
	QueryMeta
}

// IndexedServices is the reply to Catalog.ListServices: name → tags.
type IndexedServices struct {
	Services map[string][]string
	QueryMeta
}

// IndexedServiceNodes is the reply to Catalog.ServiceNodes.
type IndexedServiceNodes struct {
	ServiceNodes ServiceNodes
	QueryMeta
}

// IndexedNodeServices is the reply to Catalog.NodeServices; NodeServices is
// nil when the node is unknown.
type IndexedNodeServices struct {
	NodeServices *NodeServices
	QueryMeta
}

// IndexedHealthChecks is the reply to the Health check reads.
type IndexedHealthChecks struct {
	HealthChecks HealthChecks
	QueryMeta
}

// IndexedCheckServiceNodes is the reply to Health.ServiceNodes.
type IndexedCheckServiceNodes struct {
	Nodes CheckServiceNodes
	QueryMeta
}

// DatacentersReply lists known datacenters, nearest first.
type DatacentersReply struct {
	Datacenters []string
}

// EmptyRequest is for RPCs that take nothing but a datacenter.
type EmptyRequest struct {
	Datacenter string
	QueryOptions
}

// RequestDatacenter implements RPCInfo.
func (r *EmptyRequest) RequestDatacenter() string { return r.Datacenter }

// HasTags reports whether have holds every tag in want, compared without
// case as Consul compares tags (the catalog's tag filter; client views
// filter the same way).
func HasTags(have, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if strings.EqualFold(h, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// MatchesNodeMeta reports whether meta holds every filter pair
// (?node-meta=key:value, all of them).
func MatchesNodeMeta(meta, filters map[string]string) bool {
	for k, v := range filters {
		if got, ok := meta[k]; !ok || got != v {
			return false
		}
	}
	return true
}
