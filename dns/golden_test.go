package dns

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// renderReply prints a reply deterministically: shuffled sections sorted,
// SOA serials zeroed.
func renderReply(r *dns.Msg) string {
	var b strings.Builder
	fmt.Fprintf(&b, "rcode: %s\n", dns.RcodeToString[r.Rcode])
	fmt.Fprintf(&b, "flags: aa=%v tc=%v rd=%v ra=%v\n", r.Authoritative, r.Truncated, r.RecursionDesired, r.RecursionAvailable)
	for _, sec := range []struct {
		name string
		rrs  []dns.RR
	}{{"answer", r.Answer}, {"authority", r.Ns}, {"additional", r.Extra}} {
		fmt.Fprintf(&b, ";; %s (%d)\n", sec.name, len(sec.rrs))
		for _, line := range rrStrings(sec.rrs, true) {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func TestGolden(t *testing.T) {
	cfg := testConfig()
	cfg.NodeTTL = 30 * time.Second
	cfg.ServiceTTL = map[string]time.Duration{"*": 10 * time.Second}
	cfg.AltDomain = "example-alt."
	cfg.TranslateWANAddrs = true
	s := newTestServer(t, cfg, seedBackend())
	// The same server over a tracked backend keeps its replies packed:
	// the first query builds them, the second is answered from them.
	kept := newTestServer(t, cfg, newTrackedBackend(seedBackend()))
	for _, tc := range []struct {
		file  string
		qname string
		qtype uint16
		tcp   bool
	}{
		{"node_a", "foo.node.consul.", dns.TypeA, false},
		{"node_any", "foo.node.dc1.consul.", dns.TypeANY, false},
		{"node_wan", "remote.node.dc2.consul.", dns.TypeA, false},
		{"node_missing", "nope.node.consul.", dns.TypeA, false},
		{"service_a", "web.service.consul.", dns.TypeA, false},
		{"service_srv", "web.service.consul.", dns.TypeSRV, true},
		{"service_tag_srv", "primary.web.service.consul.", dns.TypeSRV, false},
		{"service_rfc2782", "_web._tcp.service.dc1.consul.", dns.TypeSRV, true},
		{"service_cname", "db.service.consul.", dns.TypeA, false},
		{"service_nodata", "web.service.consul.", dns.TypeTXT, false},
		{"service_alt_domain", "_web._primary.service.example-alt.", dns.TypeSRV, false},
		{"service_unknown_dc", "web.service.dc9.consul.", dns.TypeA, false},
		{"service_unreachable_dc", "web.service.dc3.consul.", dns.TypeA, false},
		{"addr_a", "7f00000b.addr.dc1.consul.", dns.TypeA, false},
		{"query_none", "geo.query.consul.", dns.TypeSRV, false},
		{"apex_soa", "consul.", dns.TypeSOA, false},
		{"apex_ns", "consul.", dns.TypeNS, false},
		{"foreign_refused", "example.com.", dns.TypeA, false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			q := new(dns.Msg)
			q.SetQuestion(tc.qname, tc.qtype)
			q.RecursionDesired = true
			head := fmt.Sprintf(";; %s %s tcp=%v\n", tc.qname, dns.TypeToString[tc.qtype], tc.tcp)
			got := head + renderReply(ask(t, s, q, tc.tcp))
			path := filepath.Join("testdata", "golden", tc.file+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./dns -update)", err)
			}
			if got != string(want) {
				t.Fatalf("reply differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
			}
			for i := range 2 {
				q.Id = uint16(100 + i)
				if got := head + renderReply(ask(t, kept, q, tc.tcp)); got != string(want) {
					t.Fatalf("kept reply (query %d) differs from %s:\n--- got\n%s--- want\n%s", i, path, got, want)
				}
			}
		})
	}
}
