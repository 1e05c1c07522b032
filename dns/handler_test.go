package dns

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"consulate/structs"
)

type dnsCase struct {
	Qname  string
	Qtype  uint16
	TCP    bool
	Rcode  int
	Answer []string // sorted
	Ns     []string
	Extra  []string // sorted
}

const soaConsul = "consul. 0 IN SOA ns.consul. hostmaster.consul. 0 3600 600 86400 0"

func runCases(t *testing.T, s *Server, cases []dnsCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Qname+"/"+dns.TypeToString[tc.Qtype], func(t *testing.T) {
			q := new(dns.Msg)
			q.SetQuestion(tc.Qname, tc.Qtype)
			r := ask(t, s, q, tc.TCP)
			if r.Rcode != tc.Rcode {
				t.Fatalf("rcode %s, want %s\n%s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.Rcode], r)
			}
			if !r.Authoritative && tc.Rcode != dns.RcodeServerFailure {
				t.Errorf("reply not authoritative")
			}
			check := func(section string, got []dns.RR, want []string) {
				t.Helper()
				g := rrStrings(got, true)
				w := slices.Clone(want)
				slices.Sort(w)
				if !slices.Equal(g, w) {
					t.Errorf("%s:\n got  %q\n want %q", section, g, w)
				}
			}
			check("answer", r.Answer, tc.Answer)
			check("ns", r.Ns, tc.Ns)
			check("extra", r.Extra, tc.Extra)
		})
	}
}

func TestLookups(t *testing.T) {
	cfg := testConfig()
	cfg.NodeTTL = 10 * time.Second
	cfg.ServiceTTL = map[string]time.Duration{"*": 5 * time.Second, "db": 30 * time.Second, "si*": 7 * time.Second}
	cfg.TranslateWANAddrs = true
	s := newTestServer(t, cfg, seedBackend())

	runCases(t, s, []dnsCase{
		// Nodes.
		{Qname: "foo.node.consul.", Qtype: dns.TypeA, Answer: []string{"foo.node.consul. 10 IN A 127.0.0.11"}},
		{Qname: "FOO.Node.DC1.consul.", Qtype: dns.TypeA, Answer: []string{"FOO.Node.DC1.consul. 10 IN A 127.0.0.11"}},
		{Qname: "foo.node.dc1.consul.", Qtype: dns.TypeTXT, Answer: []string{
			`foo.node.dc1.consul. 10 IN TXT "env=prod"`, `foo.node.dc1.consul. 10 IN TXT "rack=r1"`}},
		{Qname: "foo.node.consul.", Qtype: dns.TypeANY, Answer: []string{"foo.node.consul. 10 IN A 127.0.0.11",
			`foo.node.consul. 10 IN TXT "env=prod"`, `foo.node.consul. 10 IN TXT "rack=r1"`}},
		{Qname: "foo.node.consul.", Qtype: dns.TypeAAAA, Ns: []string{soaConsul}},
		{Qname: "v6.node.consul.", Qtype: dns.TypeAAAA, Answer: []string{"v6.node.consul. 10 IN AAAA ::1"}},
		{Qname: "ext.node.consul.", Qtype: dns.TypeA, Answer: []string{"ext.node.consul. 10 IN CNAME db.example.com."}},
		{Qname: "nope.node.consul.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []string{soaConsul}},
		{Qname: "remote.node.dc2.consul.", Qtype: dns.TypeA, Answer: []string{"remote.node.dc2.consul. 10 IN A 203.0.113.21"}},

		// Services.
		{Qname: "web.service.consul.", Qtype: dns.TypeA, Answer: []string{
			"web.service.consul. 5 IN A 127.0.0.11", "web.service.consul. 5 IN A 127.0.0.99", "web.service.consul. 5 IN A 127.0.0.14"}},
		{Qname: "primary.web.service.consul.", Qtype: dns.TypeA, Answer: []string{"primary.web.service.consul. 5 IN A 127.0.0.11"}},
		{Qname: "PRIMARY.web.service.dc1.consul.", Qtype: dns.TypeA, Answer: []string{"PRIMARY.web.service.dc1.consul. 5 IN A 127.0.0.11"}},
		{Qname: "_web._primary.service.consul.", Qtype: dns.TypeSRV,
			Answer: []string{"_web._primary.service.consul. 5 IN SRV 1 10 8080 foo.node.dc1.consul."},
			Extra:  []string{"foo.node.dc1.consul. 5 IN A 127.0.0.11"}},
		{Qname: "_web._tcp.service.consul.", Qtype: dns.TypeSRV, TCP: true,
			Answer: []string{
				"_web._tcp.service.consul. 5 IN SRV 1 10 8080 foo.node.dc1.consul.",
				"_web._tcp.service.consul. 5 IN SRV 1 1 8081 7f000063.addr.dc1.consul.",
				"_web._tcp.service.consul. 5 IN SRV 1 2 8083 warn.node.dc1.consul."},
			Extra: []string{
				"foo.node.dc1.consul. 5 IN A 127.0.0.11",
				"7f000063.addr.dc1.consul. 5 IN A 127.0.0.99",
				"warn.node.dc1.consul. 5 IN A 127.0.0.14"}},
		{Qname: "nosuchtag.web.service.consul.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []string{soaConsul}},
		{Qname: "dead.service.consul.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []string{soaConsul}},
		{Qname: "nope.service.consul.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []string{soaConsul}},
		{Qname: "web.service.consul.", Qtype: dns.TypeMX, Ns: []string{soaConsul}},
		{Qname: "db.service.consul.", Qtype: dns.TypeA, Answer: []string{"db.service.consul. 30 IN CNAME db.example.com."}},
		{Qname: "db.service.consul.", Qtype: dns.TypeSRV, Answer: []string{"db.service.consul. 30 IN SRV 1 1 5432 db.example.com."}},
		{Qname: "six.service.consul.", Qtype: dns.TypeAAAA, Answer: []string{"six.service.consul. 7 IN AAAA ::1"}},
		{Qname: "six.service.consul.", Qtype: dns.TypeA, Ns: []string{soaConsul}},
		{Qname: "web.service.dc2.consul.", Qtype: dns.TypeSRV,
			Answer: []string{"web.service.dc2.consul. 5 IN SRV 1 1 80 remote.node.dc2.consul."},
			Extra:  []string{"remote.node.dc2.consul. 5 IN A 203.0.113.21"}},
		{Qname: "a.b.web.service.consul.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []string{soaConsul}},

		// Datacenters.
		{Qname: "web.service.dc9.consul.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []string{soaConsul}},
		{Qname: "foo.node.dc9.consul.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []string{soaConsul}},
		{Qname: "web.service.dc3.consul.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure},

		// Addresses, queries, odd names.
		{Qname: "7f00000b.addr.dc1.consul.", Qtype: dns.TypeA, Answer: []string{"7f00000b.addr.dc1.consul. 10 IN A 127.0.0.11"}},
		{Qname: "00000000000000000000000000000001.addr.dc1.consul.", Qtype: dns.TypeAAAA,
			Answer: []string{"00000000000000000000000000000001.addr.dc1.consul. 10 IN AAAA ::1"}},
		{Qname: "7f00000b.addr.dc1.consul.", Qtype: dns.TypeAAAA, Ns: []string{soaConsul}},
		{Qname: "zz.addr.dc1.consul.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []string{soaConsul}},
		{Qname: "myquery.query.consul.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []string{soaConsul}},
		{Qname: "service.consul.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []string{soaConsul}},
		{Qname: "what.ever.consul.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []string{soaConsul}},

		// The domain itself.
		{Qname: "consul.", Qtype: dns.TypeSOA, Answer: []string{soaConsul},
			Ns: []string{"consul. 10 IN NS foo.node.dc1.consul."}, Extra: []string{"foo.node.dc1.consul. 10 IN A 127.0.0.11"}},
		{Qname: "consul.", Qtype: dns.TypeNS, Answer: []string{"consul. 10 IN NS foo.node.dc1.consul."},
			Extra: []string{"foo.node.dc1.consul. 10 IN A 127.0.0.11"}},
		{Qname: "consul.", Qtype: dns.TypeA, Ns: []string{soaConsul}},
	})
}

func TestWarningWeightAndOnlyPassing(t *testing.T) {
	cfg := testConfig()
	cfg.OnlyPassing = true
	s := newTestServer(t, cfg, seedBackend())
	runCases(t, s, []dnsCase{
		{Qname: "web.service.consul.", Qtype: dns.TypeA, Answer: []string{
			"web.service.consul. 0 IN A 127.0.0.11", "web.service.consul. 0 IN A 127.0.0.99"}},
	})
}

func TestAltDomain(t *testing.T) {
	cfg := testConfig()
	cfg.AltDomain = "test-domain"
	s := newTestServer(t, cfg, seedBackend())
	runCases(t, s, []dnsCase{
		{Qname: "_web._primary.service.test-domain.", Qtype: dns.TypeSRV,
			Answer: []string{"_web._primary.service.test-domain. 0 IN SRV 1 10 8080 foo.node.dc1.test-domain."},
			Extra:  []string{"foo.node.dc1.test-domain. 0 IN A 127.0.0.11"}},
		{Qname: "nope.node.test-domain.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError,
			Ns: []string{"test-domain. 0 IN SOA ns.test-domain. hostmaster.test-domain. 0 3600 600 86400 0"}},
		{Qname: "foo.node.consul.", Qtype: dns.TypeA, Answer: []string{"foo.node.consul. 0 IN A 127.0.0.11"}},
	})
}

func TestTagFilterSentToBackend(t *testing.T) {
	b := seedBackend()
	s := newTestServer(t, testConfig(), b)
	q := new(dns.Msg)
	q.SetQuestion("primary.web.service.consul.", dns.TypeA)
	ask(t, s, q, false)
	got := b.lastService
	if got.ServiceName != "web" || !got.TagFilter || !slices.Equal(got.ServiceTags, []string{"primary"}) ||
		got.Datacenter != "dc1" || !got.AllowStale || got.MaxStaleDuration != DefaultConfig().MaxStale {
		t.Fatalf("request %+v", got)
	}
}

func TestUnknownVersusUnreachableDC(t *testing.T) {
	b := seedBackend()
	// A backend error that is neither sentinel: the server asks which DCs
	// exist to decide.
	b.errs["dc2"] = errors.New("connection reset")
	b.errs["gone"] = errors.New("connection reset")
	s := newTestServer(t, testConfig(), b)
	runCases(t, s, []dnsCase{
		{Qname: "web.service.dc2.consul.", Qtype: dns.TypeA, Rcode: dns.RcodeServerFailure},
		{Qname: "web.service.gone.consul.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []string{soaConsul}},
	})
}

type fakeQueries struct {
	res *QueryResult
	err error
	got *QueryRequest
}

func (f *fakeQueries) ExecuteQuery(_ context.Context, req *QueryRequest) (*QueryResult, error) {
	f.got = req
	return f.res, f.err
}

func TestPreparedQueryHook(t *testing.T) {
	b := seedBackend()
	fq := &fakeQueries{res: &QueryResult{Service: "web", Datacenter: "dc2", TTL: 3 * time.Second,
		Nodes: b.services["dc2"]["web"]}}
	cfg := testConfig()
	cfg.QueryExecutor = fq
	s := newTestServer(t, cfg, b)
	runCases(t, s, []dnsCase{
		{Qname: "geo.query.consul.", Qtype: dns.TypeSRV,
			Answer: []string{"geo.query.consul. 3 IN SRV 1 1 80 remote.node.dc2.consul."},
			Extra:  []string{"remote.node.dc2.consul. 3 IN A 127.0.0.21"}},
	})
	if fq.got.Name != "geo" || fq.got.Datacenter != "dc1" {
		t.Fatalf("query request %+v", fq.got)
	}
	fq.err = fmt.Errorf("lookup: %w", ErrQueryNotFound)
	runCases(t, s, []dnsCase{
		{Qname: "nope.query.consul.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []string{soaConsul}},
	})
}

// manyBackend has one service "big" with n passing instances, each on its
// own node.
func manyBackend(n int) *fakeBackend {
	f := newFakeBackend("dc1")
	for i := range n {
		node := fmt.Sprintf("node-%03d", i)
		f.addNode("dc1", &structs.Node{Node: node, Address: fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)})
		f.addInstance("dc1", node, &structs.NodeService{ID: "big", Service: "big", Port: 9000 + i}, structs.HealthPassing)
	}
	return f
}

func TestTruncation(t *testing.T) {
	b := manyBackend(50)
	for _, tc := range []struct {
		name     string
		truncate bool
		tcp      bool
		edns     uint16
		qtype    uint16
		wantN    int // exact count, or -1 for "fewer than 50"
		wantTC   bool
	}{
		{"udp no edns answer limit", true, false, 0, dns.TypeSRV, 3, true},
		{"udp no edns no TC without enable_truncate", false, false, 0, dns.TypeSRV, 3, false},
		{"udp edns 1232 fits what it can", true, false, 1232, dns.TypeSRV, -1, true},
		{"udp edns 1232 cut to size sets TC even without enable_truncate", false, false, 1232, dns.TypeSRV, -1, true},
		{"udp edns 65000 all", true, false, 65000, dns.TypeSRV, 50, false},
		{"tcp all", true, true, 0, dns.TypeSRV, 50, false},
		{"tcp A all", true, true, 0, dns.TypeA, 50, false},
		{"udp A edns 512", true, false, 512, dns.TypeA, -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.EnableTruncate = tc.truncate
			s := newTestServer(t, cfg, b)
			q := new(dns.Msg)
			q.SetQuestion("big.service.consul.", tc.qtype)
			if tc.edns > 0 {
				q.SetEdns0(tc.edns, false)
			}
			r := ask(t, s, q, tc.tcp)
			n := len(r.Answer)
			if tc.wantN >= 0 && n != tc.wantN || tc.wantN < 0 && (n == 0 || n >= 50) {
				t.Fatalf("%d answers, want %d", n, tc.wantN)
			}
			if r.Truncated != tc.wantTC {
				t.Fatalf("TC=%v, want %v", r.Truncated, tc.wantTC)
			}
			size := 512
			if tc.edns > 0 {
				size = int(tc.edns)
			}
			r.Compress = true // as it went on the wire
			if packed, _ := r.Pack(); !tc.tcp && len(packed) > size {
				t.Fatalf("reply %d bytes > %d", len(packed), size)
			}
			if tc.edns > 0 && r.IsEdns0() == nil {
				t.Fatalf("EDNS query got a reply without OPT")
			}
			// Every SRV target kept has its address in the extra section.
			if tc.qtype == dns.TypeSRV {
				extra := map[string]bool{}
				for _, rr := range r.Extra {
					extra[rr.Header().Name] = true
				}
				for _, rr := range r.Answer {
					if !extra[rr.(*dns.SRV).Target] {
						t.Fatalf("no extra for %s", rr)
					}
				}
			}
		})
	}
}

func TestARecordLimit(t *testing.T) {
	cfg := testConfig()
	cfg.ARecordLimit = 2
	s := newTestServer(t, cfg, manyBackend(10))
	q := new(dns.Msg)
	q.SetQuestion("big.service.consul.", dns.TypeA)
	if r := ask(t, s, q, true); len(r.Answer) != 2 {
		t.Fatalf("%d answers, want 2", len(r.Answer))
	}
}

func TestShuffled(t *testing.T) {
	s := newTestServer(t, testConfig(), manyBackend(20))
	q := new(dns.Msg)
	q.SetQuestion("big.service.consul.", dns.TypeSRV)
	first := rrStrings(ask(t, s, q, true).Answer, false)
	for range 50 {
		if !slices.Equal(first, rrStrings(ask(t, s, q, true).Answer, false)) {
			return
		}
	}
	t.Fatal("50 replies came in the same order")
}

func TestServiceTTLWildcards(t *testing.T) {
	tt := newTTLTable(map[string]time.Duration{"*": time.Second, "web*": 2 * time.Second, "webapp*": 3 * time.Second, "web": 4 * time.Second})
	for name, want := range map[string]uint32{"web": 4, "webapp-x": 3, "webby": 2, "db": 1} {
		if got := tt.lookup(name); got != want {
			t.Errorf("%s: ttl %d, want %d", name, got, want)
		}
	}
	empty := newTTLTable(nil)
	if empty.lookup("x") != 0 {
		t.Error("default ttl not 0")
	}
}

func TestMalformedQueries(t *testing.T) {
	s := newTestServer(t, testConfig(), seedBackend())
	for _, tc := range []struct {
		name  string
		msg   func() *dns.Msg
		rcode int
	}{
		{"no question", func() *dns.Msg {
			return &dns.Msg{MsgHdr: dns.MsgHdr{Id: 7, Opcode: dns.OpcodeQuery}}
		}, dns.RcodeFormatError},
		{"two questions", func() *dns.Msg {
			m := new(dns.Msg)
			m.SetQuestion("foo.node.consul.", dns.TypeA)
			m.Question = append(m.Question, m.Question[0])
			return m
		}, dns.RcodeFormatError},
		{"update", func() *dns.Msg {
			m := new(dns.Msg)
			m.SetUpdate("consul.")
			return m
		}, dns.RcodeNotImplemented},
		{"edns version 1", func() *dns.Msg {
			m := new(dns.Msg)
			m.SetQuestion("foo.node.consul.", dns.TypeA)
			m.SetEdns0(1232, false)
			m.IsEdns0().SetVersion(1)
			return m
		}, dns.RcodeBadVers},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := ask(t, s, tc.msg(), false); r.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
		})
	}
}

func TestNoRecursorsRefused(t *testing.T) {
	s := newTestServer(t, testConfig(), seedBackend())
	q := new(dns.Msg)
	q.SetQuestion("example.com.", dns.TypeA)
	if r := ask(t, s, q, false); r.Rcode != dns.RcodeRefused {
		t.Fatalf("rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
	}
}

func TestConfigValidate(t *testing.T) {
	for name, mut := range map[string]func(*Config){
		"no dc":            func(c *Config) { c.Datacenter = "" },
		"dotted dc":        func(c *Config) { c.Datacenter = "a.b" },
		"no domain":        func(c *Config) { c.Domain = "" },
		"same alt":         func(c *Config) { c.AltDomain = "CONSUL" },
		"neg ttl":          func(c *Config) { c.NodeTTL = -time.Second },
		"bad ttl key":      func(c *Config) { c.ServiceTTL = map[string]time.Duration{"*web": time.Second} },
		"bad recursor":     func(c *Config) { c.Recursors = []string{"dns.google"} },
		"zero rec timeout": func(c *Config) { c.Recursors = []string{"127.0.0.1"}; c.RecursorTimeout = 0 },
		"neg a limit":      func(c *Config) { c.ARecordLimit = -1 },
		"no lookup limit":  func(c *Config) { c.LookupTimeout = 0 },
		"no waiting limit": func(c *Config) { c.MaxWaitingLookups = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			mut(&cfg)
			if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Validate = %v, want ErrInvalidConfig", err)
			}
			if _, err := New(cfg, seedBackend(), nil); err == nil {
				t.Error("New accepted it")
			}
		})
	}
	cfg := testConfig()
	cfg.Recursors = []string{"127.0.0.1", "127.0.0.2:5353", "::1"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, nil, nil); err == nil {
		t.Fatal("New accepted a nil backend")
	}
	if !strings.HasSuffix(DefaultConfig().Domain, ".") {
		t.Fatal("default domain not fqdn")
	}
}
