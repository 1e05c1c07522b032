package structs

import (
	"maps"
	"net"
	"strconv"
	"strings"
)

// MemberStatus is a gossip member's state, numbered as serf numbers it
// (the HTTP API exposes the number).
type MemberStatus int

// Member states.
const (
	StatusNone MemberStatus = iota
	StatusAlive
	StatusLeaving
	StatusLeft
	StatusFailed
)

func (s MemberStatus) String() string {
	switch s {
	case StatusAlive:
		return "alive"
	case StatusLeaving:
		return "leaving"
	case StatusLeft:
		return "left"
	case StatusFailed:
		return "failed"
	}
	return "none"
}

// Member is a gossip pool member as /v1/agent/members shows it.
type Member struct {
	Name        string
	Addr        string
	Port        uint16
	Tags        map[string]string
	Status      MemberStatus
	ProtocolMin uint8
	ProtocolMax uint8
	ProtocolCur uint8
	DelegateMin uint8
	DelegateMax uint8
	DelegateCur uint8
}

// WANMemberName is a server's member name in the WAN pool: NODE.DC.
func WANMemberName(node, dc string) string { return node + "." + dc }

// SplitWANMemberName splits a WAN member name NODE.DC at the last dot.
func SplitWANMemberName(name string) (node, dc string, ok bool) {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 || i == len(name)-1 {
		return "", "", false
	}
	return name[:i], name[i+1:], true
}

// Tag names Consul puts on LAN and WAN members. lan, wan and server read
// and write members through these names only.
const (
	TagRole        = "role"
	TagDatacenter  = "dc"
	TagPort        = "port"
	TagID          = "id"
	TagBuild       = "build"
	TagVsn         = "vsn"
	TagVsnMin      = "vsn_min"
	TagVsnMax      = "vsn_max"
	TagRaftVsn     = "raft_vsn"
	TagExpect      = "expect"
	TagBootstrap   = "bootstrap"
	TagWANJoinPort = "wan_join_port"
	TagSegment     = "segment"
	// TagGateway is Consulate's own: a LAN member running a federation
	// gateway advertises its address (host:port) in it.
	TagGateway = "gw"
)

// Values of TagRole.
const (
	RoleServer = "consul"
	RoleClient = "node"
)

// Gossip protocol versions advertised in the vsn tags (Consul's values).
const (
	ProtocolVersion    = 2
	ProtocolVersionMin = 2
	ProtocolVersionMax = 3
)

// MemberTags are what a member says about itself in its tags. Tags turns
// them into the map gossip carries; ParseServer reads a server's back.
type MemberTags struct {
	Datacenter string
	NodeID     string
	Build      string
	Segment    string
	// Server marks a Consul server; the fields below are server-only.
	Server          bool
	ServerPort      int // server RPC port
	RaftVersion     int
	BootstrapExpect int
	Bootstrap       bool
	WANJoinPort     int
}

// Tags returns extra with the member tags laid over it (extra is not
// changed).
func (t MemberTags) Tags(extra map[string]string) map[string]string {
	tags := maps.Clone(extra)
	if tags == nil {
		tags = map[string]string{}
	}
	tags[TagDatacenter] = t.Datacenter
	tags[TagSegment] = t.Segment
	tags[TagID] = t.NodeID
	tags[TagVsn] = strconv.Itoa(ProtocolVersion)
	tags[TagVsnMin] = strconv.Itoa(ProtocolVersionMin)
	tags[TagVsnMax] = strconv.Itoa(ProtocolVersionMax)
	tags[TagBuild] = t.Build
	if !t.Server {
		tags[TagRole] = RoleClient
		return tags
	}
	tags[TagRole] = RoleServer
	tags[TagPort] = strconv.Itoa(t.ServerPort)
	tags[TagRaftVsn] = strconv.Itoa(t.RaftVersion)
	if t.BootstrapExpect > 0 {
		tags[TagExpect] = strconv.Itoa(t.BootstrapExpect)
	}
	if t.Bootstrap {
		tags[TagBootstrap] = "1"
	}
	if t.WANJoinPort > 0 {
		tags[TagWANJoinPort] = strconv.Itoa(t.WANJoinPort)
	}
	return tags
}

// ServerInfo is what a member's tags say about a Consul server.
type ServerInfo struct {
	Name        string // member name (NODE.DC in the WAN pool)
	ID          string
	Datacenter  string
	Addr        string // host:port of the server's RPC listener
	Port        int
	Expect      int
	Bootstrap   bool
	Build       string
	RaftVersion int
	WANJoinPort int
	Segment     string
	Status      MemberStatus
}

// ParseServer reports whether m is a Consul server and, if so, what its
// tags say. A server without a valid port tag is not one.
func ParseServer(m Member) (ServerInfo, bool) {
	if m.Tags[TagRole] != RoleServer {
		return ServerInfo{}, false
	}
	port, err := strconv.Atoi(m.Tags[TagPort])
	if err != nil || port <= 0 || port > 65535 {
		return ServerInfo{}, false
	}
	atoi := func(s string) int {
		n, _ := strconv.Atoi(s) // absent or bad optional tags read as 0
		return n
	}
	return ServerInfo{
		Name:        m.Name,
		ID:          m.Tags[TagID],
		Datacenter:  m.Tags[TagDatacenter],
		Addr:        net.JoinHostPort(m.Addr, strconv.Itoa(port)),
		Port:        port,
		Expect:      atoi(m.Tags[TagExpect]),
		Bootstrap:   m.Tags[TagBootstrap] == "1",
		Build:       m.Tags[TagBuild],
		RaftVersion: atoi(m.Tags[TagRaftVsn]),
		WANJoinPort: atoi(m.Tags[TagWANJoinPort]),
		Segment:     m.Tags[TagSegment],
		Status:      m.Status,
	}, true
}
