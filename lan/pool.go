package lan

import (
	"fmt"

	"consulate/gossip"
	"consulate/structs"
)

// Pool is the LAN pool; every gossip.Pool method is available on it.
type Pool struct {
	*gossip.Pool
	cfg Config
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
	g.Tags = cfg.memberTags()
	if g.Component == "" || g.Component == "gossip" {
		g.Component = "gossip.lan"
	}
	dc := cfg.Datacenter
	userCheck := g.MergeCheck
	g.MergeCheck = func(peers []structs.Member) error {
		for _, m := range peers {
			if other, ok := m.Tags[structs.TagDatacenter]; ok && other != dc {
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
func (p *Pool) Servers() []structs.ServerInfo {
	var out []structs.ServerInfo
	for _, m := range p.Members() {
		if s, ok := structs.ParseServer(m); ok {
			out = append(out, s)
		}
	}
	return out
}
