package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"consulate/structs"
)

// fakeBackend is an in-memory catalog keyed by datacenter.
type fakeBackend struct {
	mu       sync.Mutex
	dcs      []string
	nodes    map[string]map[string]*structs.NodeServices // dc → node → services
	services map[string]map[string]structs.CheckServiceNodes
	// errs makes every lookup in a DC fail with the error.
	errs map[string]error
	// lastService records the last service request.
	lastService structs.ServiceSpecificRequest
}

func newFakeBackend(dcs ...string) *fakeBackend {
	return &fakeBackend{
		dcs:      dcs,
		nodes:    map[string]map[string]*structs.NodeServices{},
		services: map[string]map[string]structs.CheckServiceNodes{},
		errs:     map[string]error{},
	}
}

func (f *fakeBackend) addNode(dc string, n *structs.Node) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n.Datacenter = dc
	if f.nodes[dc] == nil {
		f.nodes[dc] = map[string]*structs.NodeServices{}
	}
	f.nodes[dc][strings.ToLower(n.Node)] = &structs.NodeServices{Node: n, Services: map[string]*structs.NodeService{}}
}

// addInstance registers svc on node (added first) with checks of the
// given statuses.
func (f *fakeBackend) addInstance(dc, node string, svc *structs.NodeService, statuses ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ns := f.nodes[dc][strings.ToLower(node)]
	if ns == nil {
		panic("fakeBackend: add node " + node + " first")
	}
	ns.Services[svc.ID] = svc
	var checks structs.HealthChecks
	for i, st := range statuses {
		checks = append(checks, &structs.HealthCheck{Node: node, CheckID: fmt.Sprintf("c%d", i), Status: st, ServiceID: svc.ID})
	}
	if f.services[dc] == nil {
		f.services[dc] = map[string]structs.CheckServiceNodes{}
	}
	name := strings.ToLower(svc.Service)
	f.services[dc][name] = append(f.services[dc][name], structs.CheckServiceNode{Node: ns.Node, Service: svc, Checks: checks})
}

func (f *fakeBackend) known(dc string) bool { return slices.Contains(f.dcs, dc) }

func (f *fakeBackend) RPC(ctx context.Context, method structs.Method, args, reply any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	switch method {
	case structs.MethodCatalogDatacenters:
		reply.(*structs.DatacentersReply).Datacenters = slices.Clone(f.dcs)
		return nil
	case structs.MethodCatalogNodeServices:
		a := args.(*structs.NodeSpecificRequest)
		if err := f.check(a.Datacenter, a.QueryOptions); err != nil {
			return err
		}
		reply.(*structs.IndexedNodeServices).NodeServices = f.nodes[a.Datacenter][a.Node]
		return nil
	case structs.MethodCatalogListNodes:
		a := args.(*structs.DCSpecificRequest)
		if err := f.check(a.Datacenter, a.QueryOptions); err != nil {
			return err
		}
		out := reply.(*structs.IndexedNodes)
		for _, ns := range f.nodes[a.Datacenter] {
			out.Nodes = append(out.Nodes, ns.Node)
		}
		return nil
	case structs.MethodCatalogServiceNodes:
		a := args.(*structs.ServiceSpecificRequest)
		if err := f.check(a.Datacenter, a.QueryOptions); err != nil {
			return err
		}
		if a.ServiceName != "" || a.ServiceAddress == "" {
			return errors.New("fake: only lookups by address")
		}
		f.lastService = *a
		out := reply.(*structs.IndexedServiceNodes)
		for _, ns := range f.nodes[a.Datacenter] {
			for _, svc := range ns.Services {
				if svc.Address == a.ServiceAddress {
					out.ServiceNodes = append(out.ServiceNodes, structs.ToServiceNode(ns.Node, svc))
				}
			}
		}
		return nil
	case structs.MethodHealthServiceNodes:
		a := args.(*structs.ServiceSpecificRequest)
		if err := f.check(a.Datacenter, a.QueryOptions); err != nil {
			return err
		}
		f.lastService = *a
		f.lastService.ServiceTags = slices.Clone(a.ServiceTags)
		reply.(*structs.IndexedCheckServiceNodes).Nodes = f.services[a.Datacenter][a.ServiceName]
		return nil
	}
	return structs.ErrUnknownMethod
}

func (f *fakeBackend) check(dc string, q structs.QueryOptions) error {
	if dc == "" {
		return errors.New("fake: datacenter not set by the DNS server")
	}
	if err := f.errs[dc]; err != nil {
		return err
	}
	if !f.known(dc) {
		return &structs.ErrUnknownDC{DC: dc, Known: f.dcs}
	}
	return nil
}

// recorder is a dns.ResponseWriter that keeps what was written, after a
// round trip through the wire format.
type recorder struct {
	tcp  bool
	msgs []*dns.Msg
	raw  [][]byte
}

func (w *recorder) LocalAddr() net.Addr {
	if w.tcp {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8600}
	}
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8600}
}

func (w *recorder) RemoteAddr() net.Addr {
	if w.tcp {
		return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 40000}
	}
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 40000}
}

func (w *recorder) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	return w.record(b)
}

func (w *recorder) Write(b []byte) (int, error) { return len(b), w.record(slices.Clone(b)) }

func (w *recorder) record(b []byte) error {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return fmt.Errorf("recorder: reply does not unpack: %w", err)
	}
	w.raw = append(w.raw, b)
	w.msgs = append(w.msgs, m)
	return nil
}

func (w *recorder) Close() error        { return nil }
func (w *recorder) TsigStatus() error   { return nil }
func (w *recorder) TsigTimersOnly(bool) {}
func (w *recorder) Hijack()             {}

// ask runs one query through the handler and returns the reply.
func ask(t testing.TB, s *Server, q *dns.Msg, tcp bool) *dns.Msg {
	t.Helper()
	w := &recorder{tcp: tcp}
	s.ServeDNS(w, q)
	if len(w.msgs) != 1 {
		t.Fatalf("%v: handler wrote %d replies, want 1", q.Question, len(w.msgs))
	}
	if w.msgs[0].Id != q.Id {
		t.Fatalf("reply id %d, want %d", w.msgs[0].Id, q.Id)
	}
	return w.msgs[0]
}

// rrStrings renders a section with SOA serials zeroed, sorted, so shuffled
// answers compare.
func rrStrings(rrs []dns.RR, sorted bool) []string {
	var out []string
	for _, rr := range rrs {
		if soa, ok := rr.(*dns.SOA); ok {
			c := *soa
			c.Serial = 0
			rr = &c
		}
		out = append(out, strings.ReplaceAll(rr.String(), "\t", " "))
	}
	if sorted {
		slices.Sort(out)
	}
	return out
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Datacenter = "dc1"
	cfg.NodeName = "agent-one"
	return cfg
}

func newTestServer(t testing.TB, cfg Config, b Backend) *Server {
	t.Helper()
	s, err := New(cfg, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// seedBackend is the catalog most tests use.
func seedBackend() *fakeBackend {
	f := newFakeBackend("dc1", "dc2", "dc3")
	f.addNode("dc1", &structs.Node{Node: "foo", Address: "127.0.0.11",
		TaggedAddresses: map[string]string{"wan": "198.51.100.11"}, Meta: map[string]string{"rack": "r1", "env": "prod"}})
	f.addNode("dc1", &structs.Node{Node: "bar", Address: "127.0.0.12"})
	f.addNode("dc1", &structs.Node{Node: "v6", Address: "::1"})
	f.addNode("dc1", &structs.Node{Node: "ext", Address: "db.example.com"})
	f.addNode("dc1", &structs.Node{Node: "sick", Address: "127.0.0.13"})
	f.addNode("dc1", &structs.Node{Node: "warn", Address: "127.0.0.14"})
	f.addInstance("dc1", "foo", &structs.NodeService{ID: "web1", Service: "web", Tags: []string{"primary"}, Port: 8080,
		Weights: &structs.Weights{Passing: 10, Warning: 1}}, structs.HealthPassing)
	f.addInstance("dc1", "bar", &structs.NodeService{ID: "web2", Service: "web", Tags: []string{"secondary"}, Port: 8081,
		Address: "127.0.0.99"}, structs.HealthPassing)
	f.addInstance("dc1", "sick", &structs.NodeService{ID: "web3", Service: "web", Port: 8082}, structs.HealthCritical)
	f.addInstance("dc1", "warn", &structs.NodeService{ID: "web4", Service: "web", Port: 8083,
		Weights: &structs.Weights{Passing: 10, Warning: 2}}, structs.HealthPassing, structs.HealthWarning)
	f.addInstance("dc1", "ext", &structs.NodeService{ID: "db1", Service: "db", Port: 5432, Address: "db.example.com"})
	f.addInstance("dc1", "v6", &structs.NodeService{ID: "v6svc", Service: "six", Port: 99})
	f.addInstance("dc1", "sick", &structs.NodeService{ID: "dead1", Service: "dead", Port: 1}, structs.HealthCritical)
	f.addInstance("dc1", "foo", &structs.NodeService{ID: "consul", Service: "consul", Port: 8300}, structs.HealthPassing)

	f.addNode("dc2", &structs.Node{Node: "remote", Address: "127.0.0.21",
		TaggedAddresses: map[string]string{"wan": "203.0.113.21"}})
	f.addInstance("dc2", "remote", &structs.NodeService{ID: "web", Service: "web", Port: 80}, structs.HealthPassing)
	f.errs["dc3"] = fmt.Errorf("forwarding: %w", structs.ErrNoDCPath)
	return f
}
