package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"consulate/internal/testutil"
)

// startDC starts a datacenter of servers on ips that bootstrap together
// (with extra agent arguments, if any), and waits for its leader.
func startDC(t *testing.T, dc string, ips []string, extra ...string) []*agentProc {
	t.Helper()
	var servers []*agentProc
	for i, ip := range ips {
		args := append([]string{"-server", "-datacenter", dc, "-bootstrap-expect", fmt.Sprint(len(ips)),
			"-retry-join", ips[0], "-retry-interval", "200ms"}, extra...)
		servers = append(servers, startAgent(t, fmt.Sprintf("%s-s%d", dc, i+1), ip, args...))
	}
	for _, s := range servers {
		s.waitHTTP(15 * time.Second)
	}
	servers[0].waitLeader(15 * time.Second)
	return servers
}

func leaderOf(t *testing.T, servers []*agentProc) *agentProc {
	t.Helper()
	l := servers[0].waitLeader(10 * time.Second)
	for _, s := range servers {
		if strings.HasPrefix(l, s.ip+":") {
			return s
		}
	}
	t.Fatalf("leader %s not among servers", l)
	return nil
}

func getStatus(url string) (int, string, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// TestFederation joins two datacenters over the WAN and exercises every
// cross-datacenter path, then takes dc2 away and brings it back.
func TestFederation(t *testing.T) {
	dc1 := startDC(t, "dc1", []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"})
	dc2 := startDC(t, "dc2", []string{"127.0.0.21", "127.0.0.22", "127.0.0.23"})
	client := startAgent(t, "dc1-c1", "127.0.0.14", "-datacenter", "dc1", "-join", "127.0.0.11")
	client.waitHTTP(15 * time.Second)

	out, err := cli(t, "join", "-wan", "--http-addr", dc1[0].httpAddr(), "127.0.0.21")
	if err != nil {
		t.Fatalf("join -wan: %v\n%s", err, out)
	}
	testutil.WaitForErr(t, 15*time.Second, "six WAN members on every server", func() error {
		for _, s := range append(append([]*agentProc{}, dc1...), dc2...) {
			out, err := cli(t, "members", "-wan", "--http-addr", s.httpAddr())
			if err != nil {
				return fmt.Errorf("%v %s", err, out)
			}
			if strings.Count(out, "alive") != 6 || !strings.Contains(out, "dc2-s3.dc2") || !strings.Contains(out, "dc1-s1.dc1") {
				return fmt.Errorf("%s: members -wan:\n%s", s.name, out)
			}
		}
		return nil
	})
	cc := client.client()
	testutil.WaitForErr(t, 10*time.Second, "datacenters listed", func() error {
		dcs, err := cc.Catalog().Datacenters()
		if err != nil || len(dcs) != 2 || dcs[0] != "dc1" {
			return fmt.Errorf("%v %v", dcs, err)
		}
		return nil
	})

	// A service in dc2 only, found from dc1's client three ways.
	d2 := dc2[1].client()
	if err := d2.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "web", Port: 9090,
		Check: &api.AgentServiceCheck{TTL: "10m", Status: api.HealthPassing}}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitForErr(t, 10*time.Second, "web in dc2 seen from dc1", func() error {
		s, _, err := cc.Catalog().Service("web", "", &api.QueryOptions{Datacenter: "dc2"})
		if err != nil || len(s) != 1 || s[0].ServicePort != 9090 {
			return fmt.Errorf("%v %v", s, err)
		}
		rrs, err := srvLookup(t, "127.0.0.14:8600", "web.service.dc2.consul")
		if err != nil || len(rrs) != 1 {
			return fmt.Errorf("dns %v %v", rrs, err)
		}
		out, err := cli(t, "catalog", "services", "-datacenter", "dc2", "--http-addr", client.httpAddr())
		if err != nil || !strings.Contains(out, "web") {
			return fmt.Errorf("cli %v %s", err, out)
		}
		return nil
	})
	if s, _, err := cc.Catalog().Service("web", "", nil); err != nil || len(s) != 0 {
		t.Fatalf("web leaked into dc1: %v %v", s, err)
	}

	// A KV write to dc2 from dc1.
	if out, err := cli(t, "kv", "put", "-datacenter", "dc2", "--http-addr", client.httpAddr(), "fed/key", "from-dc1"); err != nil {
		t.Fatalf("kv put -datacenter dc2: %v %s", err, out)
	}
	if p, _, err := d2.KV().Get("fed/key", &api.QueryOptions{AllowStale: true}); err != nil || p == nil || string(p.Value) != "from-dc1" {
		testutil.WaitForErr(t, 3*time.Second, "fed/key in dc2", func() error {
			p, _, err := d2.KV().Get("fed/key", nil)
			if err != nil || p == nil {
				return fmt.Errorf("%v %v", p, err)
			}
			return nil
		})
	}
	if p, _, err := cc.KV().Get("fed/key", nil); err != nil || p != nil {
		t.Fatalf("fed/key visible in dc1: %v %v", p, err)
	}

	// A blocking query from dc1 on a dc2 key wakes on a dc2 write.
	_, meta, err := cc.KV().Get("fed/key", &api.QueryOptions{Datacenter: "dc2"})
	if err != nil {
		t.Fatal(err)
	}
	woke := make(chan string, 1)
	go func() {
		p, _, err := cc.KV().Get("fed/key", &api.QueryOptions{Datacenter: "dc2", WaitIndex: meta.LastIndex, WaitTime: 20 * time.Second})
		if err != nil || p == nil {
			woke <- fmt.Sprint("error: ", err)
			return
		}
		woke <- string(p.Value)
	}()
	time.Sleep(200 * time.Millisecond)
	if _, err := d2.KV().Put(&api.KVPair{Key: "fed/key", Value: []byte("v2")}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-woke:
		if v != "v2" {
			t.Fatalf("blocking query got %q", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("cross-DC blocking query did not wake")
	}

	// A user event fired from dc1 into dc2 reaches every dc2 agent.
	if out, err := cli(t, "event", "-datacenter", "dc2", "-name", "deploy", "--http-addr", client.httpAddr(), "v42"); err != nil {
		t.Fatalf("event: %v %s", err, out)
	}
	for _, s := range dc2 {
		testutil.WaitForErr(t, 5*time.Second, "deploy event on "+s.name, func() error {
			evs, _, err := s.client().Event().List("deploy", nil)
			if err != nil || len(evs) != 1 || string(evs[0].Payload) != "v42" {
				return fmt.Errorf("%v %v", evs, err)
			}
			return nil
		})
	}
	if evs, _, _ := cc.Event().List("deploy", nil); len(evs) != 0 {
		t.Fatalf("dc2's event delivered in dc1: %v", evs)
	}

	// Prepared queries failing over to dc2.
	for _, q := range []*api.PreparedQueryDefinition{
		{Name: "web-listed", Service: api.ServiceQuery{Service: "web", Failover: api.QueryFailoverOptions{Datacenters: []string{"dc2"}}}},
		{Name: "web-nearest", Service: api.ServiceQuery{Service: "web", Failover: api.QueryFailoverOptions{NearestN: 1}}},
	} {
		if _, _, err := cc.PreparedQuery().Create(q, nil); err != nil {
			t.Fatalf("create %s: %v", q.Name, err)
		}
		res, _, err := cc.PreparedQuery().Execute(q.Name, nil)
		if err != nil || res.Datacenter != "dc2" || res.Failovers != 1 || len(res.Nodes) != 1 {
			t.Fatalf("execute %s: %+v %v", q.Name, res, err)
		}
		// DNS reads are stale by default: give the new query a moment
		// to reach the follower that answers.
		testutil.WaitForErr(t, 3*time.Second, "dns "+q.Name+".query.consul", func() error {
			rrs, err := srvLookup(t, "127.0.0.14:8600", q.Name+".query.consul")
			if err != nil || len(rrs) != 1 {
				return fmt.Errorf("%v %v", rrs, err)
			}
			return nil
		})
	}

	// Kill dc2's leader: cross-DC reads and writes come back within 5 s.
	l2 := leaderOf(t, dc2)
	l2.cmd.Process.Signal(syscall.SIGKILL)
	killed := time.Now()
	testutil.WaitForErr(t, 5*time.Second, "cross-DC write after dc2 leader death", func() error {
		_, err := cc.KV().Put(&api.KVPair{Key: "fed/after-kill", Value: []byte("x")}, &api.WriteOptions{Datacenter: "dc2"})
		return err
	})
	t.Logf("cross-DC write back %v after killing dc2's leader", time.Since(killed))

	// Stop all of dc2: dc1 fails fast for dc2, stays fast for itself.
	var stopped []*agentProc
	for _, s := range dc2 {
		if s != l2 {
			s.signal(syscall.SIGSTOP)
			stopped = append(stopped, s)
		}
	}
	testutil.WaitForErr(t, 20*time.Second, "dc2 requests fail fast", func() error {
		start := time.Now()
		code, body, err := getStatus("http://" + client.httpAddr() + "/v1/kv/fed/key?dc=dc2")
		took := time.Since(start)
		if err != nil {
			return err
		}
		if code != 500 || !strings.Contains(body, "No path to datacenter") {
			return fmt.Errorf("status %d %q", code, body)
		}
		if took > 2*time.Second {
			return fmt.Errorf("took %v", took)
		}
		return nil
	})
	start := time.Now()
	if _, _, err := cc.KV().Get("fed/key", nil); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Fatalf("local read took %v while dc2 is down", d)
	}
	m := new(dns.Msg)
	m.SetQuestion("web.service.dc2.consul.", dns.TypeSRV)
	if r, _, err := (&dns.Client{Timeout: 3 * time.Second}).Exchange(m, "127.0.0.14:8600"); err != nil || r.Rcode != dns.RcodeServerFailure {
		t.Fatalf("dns for stopped dc2: %v %v", r, err)
	}
	code, body, _ := getStatus("http://" + client.httpAddr() + "/v1/catalog/nodes?dc=dc9")
	if code != 404 || !strings.Contains(body, "dc9") || !strings.Contains(body, "dc2") {
		t.Fatalf("unknown dc: %d %s", code, body)
	}
	// On KV reads a 404 means "no such key" to clients; the mistake is a 400.
	if code, body, _ := getStatus("http://" + client.httpAddr() + "/v1/kv/x?dc=dc9"); code != 400 || !strings.Contains(body, "dc9") {
		t.Fatalf("unknown dc on kv: %d %s", code, body)
	}
	var wanView []map[string]any
	testutil.WaitForErr(t, 20*time.Second, "operator wan shows dc2 failed", func() error {
		_, body, err := getStatus("http://" + dc1[0].httpAddr() + "/v1/operator/wan")
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(body), &wanView); err != nil {
			return err
		}
		for _, dc := range wanView {
			if dc["Datacenter"] == "dc2" && dc["Alive"] == float64(0) {
				return nil
			}
		}
		return errors.New(body)
	})

	// Bring dc2 back.
	for _, s := range stopped {
		s.signal(syscall.SIGCONT)
	}
	l2.restart()
	testutil.WaitForErr(t, 30*time.Second, "cross-DC works again", func() error {
		_, err := cc.KV().Put(&api.KVPair{Key: "fed/back", Value: []byte("x")}, &api.WriteOptions{Datacenter: "dc2"})
		return err
	})
	testutil.WaitForErr(t, 30*time.Second, "operator wan shows dc2 healthy", func() error {
		out, err := cli(t, "operator", "wan", "--http-addr", dc1[0].httpAddr())
		if err != nil {
			return fmt.Errorf("%v %s", err, out)
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "dc2") && strings.Contains(line, "healthy") {
				return nil
			}
		}
		return errors.New(out)
	})
}
