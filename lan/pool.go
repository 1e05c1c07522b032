package lan

import (
	"fmt"
	"net"
	"strconv"

	"consulate/gossip"
	"consulate/structs"
)

// Pool is the LAN pool; every gossip.Pool method is available on it.
type Pool struct {
	*gossip.Pool
	cfg Config
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
	Status      structs.MemberStatus
}

// IsServer reports whether m is a Consul server and, if so, its details.
func IsServer(m structs.Member) (ServerInfo, bool) {
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

// WrongDatacenterError refuses a merge with a member of another datacenter.
type WrongDatacenterError struct {
	Member     string
	Datacenter string
}

func (e *WrongDatacenterError) Error() string {
	return fmt.Sprintf("Member '%s' part of wrong datacenter '%s'", e.Member, e.Datacenter)
}

// New starts the LAN pool with Consul's tags.
func New(cfg *Config) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := *cfg.Gossip
	g.Tags = cfg.BuildTags()
	if g.Component == "" || g.Component == "gossip" {
		g.Component = "gossip.lan"
	}
	dc := cfg.Datacenter
	userCheck := g.MergeCheck
	g.MergeCheck = func(peers []structs.Member) error {
		for _, m := range peers {
			if other, ok := m.Tags[TagDatacenter]; ok && other != dc {
				return &WrongDatacenterError{Member: m.Name, Datacenter: other}
			}
		}
		if userCheck != nil {
			return userCheck(peers)
		}
		return nil
	}
	gp, err := gossip.New(&g)
	if err != nil {
		return nil, err
	}
	return &Pool{Pool: gp, cfg: *cfg}, nil
}

// Datacenter is the pool's datacenter.
func (p *Pool) Datacenter() string { return p.cfg.Datacenter }

// Servers returns the servers among the members, in any status.
func (p *Pool) Servers() []ServerInfo {
	var out []ServerInfo
	for _, m := range p.Members() {
		if s, ok := IsServer(m); ok {
			out = append(out, s)
		}
	}
	return out
}
