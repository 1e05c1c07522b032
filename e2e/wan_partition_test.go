package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"consulate/chaos/netfault"
	"consulate/internal/testutil"
)

// wanCutLength is how long the WAN cut lasts: 20 s by default (the
// behaviour is the same as in a 40 s cut: the routers know dc2 is
// unreachable within about 1.5 s and stay so), CONSULATE_E2E_WAN_CUT to
// change it.
func wanCutLength(t *testing.T) time.Duration {
	t.Helper()
	if v := os.Getenv("CONSULATE_E2E_WAN_CUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 5*time.Second {
			t.Fatalf("CONSULATE_E2E_WAN_CUT=%q: want a duration of at least 5s", v)
		}
		return d
	}
	return 20 * time.Second
}

// probeResult is one request made during the test.
type probeResult struct {
	kind    string
	started time.Duration // since the cut
	took    time.Duration
	ok      bool   // a real answer (200 / NOERROR with records / exit 0)
	failed  bool   // the expected failure (500 naming dc2 / SERVFAIL / exit≠0 naming dc2)
	detail  string // what came back, for messages
}

// wanProbe is one kind of request: it reports whether it got an answer
// and whether it got the failure the cut should give.
type wanProbe struct {
	kind  string
	local bool // a read inside dc1, which the cut must not slow
	do    func(ctx context.Context) (ok, failed bool, detail string)
}

func httpProbe(kind, url string, local bool) wanProbe {
	c := &http.Client{Timeout: 10 * time.Second}
	return wanProbe{kind: kind, local: local, do: func(ctx context.Context) (bool, bool, string) {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := c.Do(req)
		if err != nil {
			return false, false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body := strings.TrimSpace(string(b))
		if resp.StatusCode == 200 {
			return strings.Contains(body, `"ServiceName"`) || strings.Contains(body, `"Node"`), false, body
		}
		named := resp.StatusCode == 500 && strings.Contains(body, "No path to datacenter") && strings.Contains(body, `"dc2"`)
		return false, named, fmt.Sprintf("%d %s", resp.StatusCode, body)
	}}
}

func dnsProbe(kind, name string, qtype uint16, local bool) wanProbe {
	c := &dns.Client{Timeout: 10 * time.Second}
	return wanProbe{kind: kind, local: local, do: func(ctx context.Context) (bool, bool, string) {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), qtype)
		r, _, err := c.ExchangeContext(ctx, m, "127.0.0.14:8600")
		if err != nil {
			return false, false, err.Error()
		}
		rc := dns.RcodeToString[r.Rcode]
		if r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0 {
			return true, false, rc
		}
		return false, r.Rcode == dns.RcodeServerFailure, fmt.Sprintf("%s, %d answers", rc, len(r.Answer))
	}}
}

func cliProbe(kind string) wanProbe {
	return wanProbe{kind: kind, do: func(ctx context.Context) (bool, bool, string) {
		cmd := exec.CommandContext(ctx, binary, "catalog", "services", "-datacenter", "dc2", "--http-addr", "127.0.0.14:8500")
		cmd.Env = append(os.Environ(), "CONSUL_HTTP_ADDR=", "CONSULATE_HTTP_ADDR=")
		out, err := cmd.CombinedOutput()
		text := strings.TrimSpace(string(out))
		if err == nil {
			return strings.Contains(text, "web"), false, text
		}
		return false, strings.Contains(text, "No path to datacenter") && strings.Contains(text, "dc2"), err.Error() + ": " + text
	}}
}

// TestWANPartition cuts every packet between dc1's and dc2's addresses and
// measures what dc1 sees: cross-DC requests (HTTP through the client and
// through a server, DNS service and node lookups, the CLI) must fail —
// never answer from a stale view — within 2 s, and within 100 ms once dc2
// is known unreachable; reads inside dc1 stay fast; and cross-DC answers
// come back within 1 s of the heal.
func TestWANPartition(t *testing.T) {
	netfault.Require(t)
	cutFor := wanCutLength(t)
	dc1IPs := []string{"127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"}
	dc2IPs := []string{"127.0.0.21", "127.0.0.22", "127.0.0.23"}
	startDC(t, "dc1", dc1IPs[:3])
	dc2 := startDC(t, "dc2", dc2IPs)
	client := startAgent(t, "dc1-c1", "127.0.0.14", "-datacenter", "dc1", "-join", "127.0.0.11")
	client.waitHTTP(15 * time.Second)
	if out, err := cli(t, "join", "-wan", "--http-addr", "127.0.0.11:8500", "127.0.0.21"); err != nil {
		t.Fatalf("join -wan: %v\n%s", err, out)
	}
	testutil.WaitForErr(t, 20*time.Second, "six WAN members alive on 127.0.0.11", func() error {
		out, err := cli(t, "members", "-wan", "--http-addr", "127.0.0.11:8500")
		if err != nil || strings.Count(out, "alive") != 6 {
			return fmt.Errorf("%v\n%s", err, out)
		}
		return nil
	})
	d2 := dc2[1].client()
	if err := d2.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "web", Port: 9090,
		Check: &api.AgentServiceCheck{TTL: "10m", Status: api.HealthPassing}}); err != nil {
		t.Fatal(err)
	}
	cc := client.client()
	if err := cc.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "home", Port: 8080}); err != nil {
		t.Fatal(err)
	}

	probes := []wanProbe{
		httpProbe("http-client", "http://127.0.0.14:8500/v1/catalog/service/web?dc=dc2", false),
		httpProbe("http-server", "http://127.0.0.12:8500/v1/health/service/web?dc=dc2", false),
		dnsProbe("dns-service", "web.service.dc2.consul", dns.TypeSRV, false),
		dnsProbe("dns-node", "dc2-s2.node.dc2.consul", dns.TypeA, false),
		cliProbe("cli"),
		httpProbe("local-http", "http://127.0.0.14:8500/v1/catalog/service/home", true),
		dnsProbe("local-dns", "home.service.consul", dns.TypeSRV, true),
	}
	// Every kind answers before the cut; the DNS answers are then in the
	// client's cache, if it keeps remote ones.
	testutil.WaitForErr(t, 20*time.Second, "every kind answers before the cut", func() error {
		for _, p := range probes {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			ok, _, detail := p.do(ctx)
			cancel()
			if !ok {
				return fmt.Errorf("%s: %s", p.kind, detail)
			}
		}
		return nil
	})

	nf, err := netfault.New("wan")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nf.Close() })

	// During the cut every kind runs in its own loop; each request is
	// bounded so a hang shows as a long one rather than stopping the loop.
	var (
		mu      sync.Mutex
		results []probeResult
	)
	if err := nf.Partition(dc1IPs, dc2IPs); err != nil {
		t.Fatal(err)
	}
	cutAt := time.Now()
	healAt := cutAt.Add(cutFor)
	var wg sync.WaitGroup
	for _, p := range probes {
		pause := 100 * time.Millisecond
		if p.kind == "cli" {
			pause = 400 * time.Millisecond
		}
		wg.Go(func() {
			for n := 0; n < 10000 && time.Until(healAt) > 2500*time.Millisecond; n++ {
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
				ok, failed, detail := p.do(ctx)
				cancel()
				mu.Lock()
				results = append(results, probeResult{kind: p.kind, started: start.Sub(cutAt), took: time.Since(start), ok: ok, failed: failed, detail: detail})
				mu.Unlock()
				time.Sleep(pause)
			}
		})
	}
	wg.Wait()
	if d := time.Until(healAt); d > 0 {
		time.Sleep(d) // the cut lasts its full length, then heals
	}
	if err := nf.Heal(); err != nil {
		t.Fatal(err)
	}
	healed := time.Now()
	t.Logf("cut for %v (CONSULATE_E2E_WAN_CUT), healed", healed.Sub(cutAt).Round(time.Millisecond))

	// After the heal: time to the first real answer, per kind.
	back := map[string]time.Duration{}
	for _, p := range probes {
		if p.local {
			continue
		}
		wg.Go(func() {
			for n := 0; n < 1000 && time.Since(healed) < 15*time.Second; n++ {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				ok, _, _ := p.do(ctx)
				cancel()
				if ok {
					mu.Lock()
					back[p.kind] = time.Since(healed)
					mu.Unlock()
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Wait()

	// The verdict. known is when dc2 counts as known unreachable: the
	// routers' probes (every 500 ms, 500 ms timeout) find the cut within
	// about 1 s; 2.5 s leaves room for a loaded machine. "last one over" in
	// the figures: the latest start of a failure slower than fastP95.
	//
	// Once known, the target is 100 ms per failure. On a 2-core machine
	// shared with other work, every request (local reads too) now and then
	// stalls for a few hundred ms at the same instant, so the 95th
	// percentile is held to the target and the slowest to 1 s, still well
	// under the 1.5 s a request pays when it has to time out. Local reads
	// likewise: 95th percentile under 50 ms, slowest under 1 s.
	const known = 2500 * time.Millisecond
	fastP95 := 100 * time.Millisecond
	if os.Getenv("CI") != "" {
		fastP95 = 250 * time.Millisecond
	}
	const stallMax = time.Second
	const localP95 = 50 * time.Millisecond
	byKind := map[string][]probeResult{}
	for _, r := range results {
		byKind[r.kind] = append(byKind[r.kind], r)
	}
	for _, p := range probes {
		rs := byKind[p.kind]
		if len(rs) == 0 {
			t.Errorf("%s: no request made during the cut", p.kind)
			continue
		}
		var early, late []time.Duration
		for _, r := range rs {
			if r.started < known {
				early = append(early, r.took)
			} else {
				late = append(late, r.took)
			}
			switch {
			case p.local && !r.ok:
				t.Errorf("%s at +%v: local read failed during the cut: %s", p.kind, r.started.Round(time.Millisecond), r.detail)
			case p.local && r.took > stallMax:
				t.Errorf("%s at +%v took %v (limit %v)", p.kind, r.started.Round(time.Millisecond), r.took, stallMax)
			case !p.local && r.ok:
				t.Errorf("%s at +%v answered from dc2 during the cut (stale): %s", p.kind, r.started.Round(time.Millisecond), r.detail)
			case !p.local && !r.failed:
				t.Errorf("%s at +%v: not the expected failure: %s", p.kind, r.started.Round(time.Millisecond), r.detail)
			case !p.local && r.took > 2*time.Second:
				t.Errorf("%s at +%v took %v to fail (limit 2s)", p.kind, r.started.Round(time.Millisecond), r.took)
			case !p.local && r.started >= known && r.took > stallMax:
				t.Errorf("%s at +%v took %v to fail although dc2 was known unreachable (limit %v)",
					p.kind, r.started.Round(time.Millisecond), r.took, stallMax)
			}
		}
		var all []time.Duration
		var fastFrom time.Duration
		for _, r := range rs {
			all = append(all, r.took)
			if r.took > fastP95 && r.started > fastFrom {
				fastFrom = r.started
			}
		}
		line := fmt.Sprintf("%-12s during cut: %3d requests, max %v in the first %v, max %v (p50 %v, p95 %v) after",
			p.kind, len(rs), maxDur(early), known, maxDur(late), pct(late, 50), pct(late, 95))
		if p.local {
			if q := pct(all, 95); q > localP95 {
				t.Errorf("%s: p95 %v during the cut (limit %v)", p.kind, q, localP95)
			}
		} else {
			// The CLI pays for a process start on top of the request.
			if q := pct(late, 95); p.kind != "cli" && q > fastP95 {
				t.Errorf("%s: p95 %v to fail once dc2 was known unreachable (limit %v)", p.kind, q, fastP95)
			}
			line += fmt.Sprintf("; last one over %v began at +%v", fastP95, fastFrom.Round(time.Millisecond))
			if d, ok := back[p.kind]; ok {
				line += fmt.Sprintf("; first answer %v after heal", d.Round(time.Millisecond))
			} else {
				line += "; NO answer within 15s of heal"
			}
		}
		t.Log(line)
		if p.local {
			continue
		}
		if d, ok := back[p.kind]; !ok || d > time.Second {
			t.Errorf("%s: first answer after heal %v (limit 1s)", p.kind, d)
		}
	}
}

func maxDur(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m.Round(100 * time.Microsecond)
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100].Round(100 * time.Microsecond)
}
