package wan

import (
	"fmt"
	"sort"

	"github.com/hashicorp/memberlist"

	"consulate/gossip"
	"consulate/structs"
)

// NotServerError refuses a WAN merge with a member that is not a server or
// whose name does not end in its datacenter.
type NotServerError struct {
	Member string
	Reason string
}

func (e *NotServerError) Error() string {
	return fmt.Sprintf("Member '%s' cannot join the WAN pool: %s", e.Member, e.Reason)
}

// Pool is the WAN pool; every gossip.Pool method is available on it.
type Pool struct {
	*gossip.Pool
	cfg Config
}

// New starts the WAN pool.
func New(cfg *Config) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := cfg.gossipConfig()
	if g.Component == "" || g.Component == "gossip" {
		g.Component = "gossip.wan"
	}
	userCheck := g.MergeCheck
	g.MergeCheck = func(peers []structs.Member) error {
		for _, m := range peers {
			if err := checkWANMember(m); err != nil {
				return err
			}
		}
		if userCheck != nil {
			return userCheck(peers)
		}
		return nil
	}
	if gw := cfg.Gateway; gw != nil {
		// A wrapper already configured stays inside, next to the network.
		if inner := g.WrapTransport; inner != nil {
			g.WrapTransport = func(b memberlist.NodeAwareTransport) memberlist.NodeAwareTransport { return gw.Wrap(inner(b)) }
		} else {
			g.WrapTransport = gw.Wrap
		}
		userObserver := g.Observer
		g.Observer = func(ev gossip.Event) {
			gw.observe(ev)
			if userObserver != nil {
				userObserver(ev)
			}
		}
	}
	gp, err := gossip.New(g)
	if err != nil {
		return nil, err
	}
	return &Pool{Pool: gp, cfg: *cfg}, nil
}

func checkWANMember(m structs.Member) error {
	if m.Status != structs.StatusAlive {
		return nil
	}
	if _, ok := structs.ParseServer(m); !ok {
		return &NotServerError{Member: m.Name, Reason: "not a server"}
	}
	_, dc, ok := SplitMemberName(m.Name)
	if !ok || dc != m.Tags[structs.TagDatacenter] {
		return &NotServerError{Member: m.Name, Reason: fmt.Sprintf("name is not NODE.%s", m.Tags[structs.TagDatacenter])}
	}
	return nil
}

// Gateway is the gateway-mode transport, nil without gateways.
func (p *Pool) Gateway() *GatewayTransport { return p.cfg.Gateway }

// Datacenter is this server's datacenter.
func (p *Pool) Datacenter() string { return p.cfg.Datacenter }

// Datacenters groups the known servers (any status) by datacenter, each
// list sorted by name.
func (p *Pool) Datacenters() map[string][]structs.ServerInfo {
	out := map[string][]structs.ServerInfo{}
	for _, m := range p.Members() {
		s, ok := structs.ParseServer(m)
		if !ok {
			continue
		}
		out[s.Datacenter] = append(out[s.Datacenter], s)
	}
	for _, list := range out {
		sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	}
	return out
}
