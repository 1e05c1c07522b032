package structs

import "time"

// CheckType defines a check the agent runs (or, for TTL, waits on). It is
// the shape both config files and /v1/agent/check/register decode into.
type CheckType struct {
	CheckID   string
	Name      string
	Notes     string
	ServiceID string
	// Status is the initial status; critical when empty.
	Status string

	HTTP          string
	Header        map[string][]string
	Method        string
	Body          string
	TLSSkipVerify bool
	TCP           string
	Args          []string
	// Script is the old single-string form of Args, run through a shell.
	Script string
	TTL    time.Duration

	Interval                       time.Duration
	Timeout                        time.Duration
	DeregisterCriticalServiceAfter time.Duration

	// TLSServerName is the name an HTTPS check verifies (default: the
	// URL's host); DisableRedirects makes an HTTP check report a redirect
	// instead of following it; OutputMaxSize bounds the output kept (0:
	// the agent's default).
	TLSServerName    string `json:",omitempty"`
	DisableRedirects bool   `json:",omitempty"`
	OutputMaxSize    int    `json:",omitempty"`
	// SuccessBeforePassing and FailuresBeforeCritical are how many
	// consecutive results it takes before the status becomes passing (or
	// warning) and critical; FailuresBeforeWarning (default:
	// FailuresBeforeCritical) is how many failures turn it warning first.
	// 0 means 1, as in Consul.
	SuccessBeforePassing   int `json:",omitempty"`
	FailuresBeforeWarning  int `json:",omitempty"`
	FailuresBeforeCritical int `json:",omitempty"`

	// UDP is host:port a UDP check sends a datagram to.
	UDP string `json:",omitempty"`
	// H2PING is host:port an HTTP/2 PING check dials; H2PingUseTLS
	// selects TLS (Consul's default) over h2c.
	H2PING       string `json:",omitempty"`
	H2PingUseTLS bool   `json:",omitempty"`
	// GRPC is host:port[/service] a gRPC health check asks; GRPCUseTLS
	// dials it with TLS.
	GRPC       string `json:",omitempty"`
	GRPCUseTLS bool   `json:",omitempty"`
	// OSService is the name of an operating-system service (systemd unit
	// on Linux) whose state is the check's.
	OSService string `json:",omitempty"`
	// DockerContainerID (with Shell and Args) is a Docker check; Consulate
	// keeps it critical since it runs no Docker client.
	DockerContainerID string `json:",omitempty"`
	Shell             string `json:",omitempty"`
	// AliasNode and AliasService make an alias check, mirroring the
	// health of a service (on AliasNode, or this node) or of a node.
	AliasNode    string `json:",omitempty"`
	AliasService string `json:",omitempty"`

	// Token is a standalone check's `token` in a config file: the ACL
	// token it syncs with (a check defined in a service has the
	// service's). It never leaves the agent but to the servers (json
	// "-"); local state keeps it apart from the stored definition.
	Token string `json:"-"`
}

// Kind names the kind of check, as Consul's Type field does.
func (c *CheckType) Kind() string {
	switch {
	case c.AliasNode != "" || c.AliasService != "":
		return "alias"
	case c.DockerContainerID != "":
		return "docker"
	case c.GRPC != "":
		return "grpc"
	case c.H2PING != "":
		return "h2ping"
	case c.UDP != "":
		return "udp"
	case c.OSService != "":
		return "os_service"
	case c.HTTP != "":
		return "http"
	case c.TCP != "":
		return "tcp"
	case c.TTL > 0:
		return "ttl"
	case len(c.Args) > 0 || c.Script != "":
		return "script"
	}
	return ""
}

// ServiceDefinition is a service as a config file or
// /v1/agent/service/register defines it.
type ServiceDefinition struct {
	Kind              string
	ID                string
	Name              string
	Tags              []string
	Address           string
	TaggedAddresses   map[string]ServiceAddress
	Meta              map[string]string
	Port              int
	Weights           *Weights
	EnableTagOverride bool
	Check             *CheckType
	Checks            []*CheckType
	// Token is a config file's `token`: the ACL token the service and
	// its checks sync with. It never leaves the agent but to the servers
	// (json "-"); the HTTP API takes the request's token instead.
	Token string `json:"-"`
}

// NodeService converts the definition to the catalog's form; an empty ID
// defaults to the name.
func (d *ServiceDefinition) NodeService() *NodeService {
	id := d.ID
	if id == "" {
		id = d.Name
	}
	w := d.Weights
	if w == nil {
		w = &Weights{Passing: 1, Warning: 1}
	}
	return &NodeService{
		Kind: d.Kind, ID: id, Service: d.Name, Tags: d.Tags, Address: d.Address,
		TaggedAddresses: d.TaggedAddresses, Meta: d.Meta, Port: d.Port,
		Weights: w, EnableTagOverride: d.EnableTagOverride,
	}
}

// CheckTypes returns Check and Checks together.
func (d *ServiceDefinition) CheckTypes() []*CheckType {
	var out []*CheckType
	if d.Check != nil {
		out = append(out, d.Check)
	}
	return append(out, d.Checks...)
}
