package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/miekg/dns"

	"consulate/internal/testutil"
)

// seedWebJSON returns testdata/seed/web.json, the guide's service
// definition, with the check interval shortened from 10s to 1s so the test
// does not wait ten seconds per health transition.
func seedWebJSON(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "seed", "web.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Replace(string(b), `"interval": "10s"`, `"interval": "1s"`, 1)
	if out == string(b) {
		t.Fatal("web.json has no 10s interval to shorten")
	}
	return []byte(out)
}

func srvLookup(t *testing.T, server, name string) ([]dns.RR, error) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeSRV)
	c := &dns.Client{Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, server)
	if err != nil {
		return nil, err
	}
	if r.Rcode != dns.RcodeSuccess {
		return nil, fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
	}
	return r.Answer, nil
}

func membersOf(t *testing.T, a *agentProc) string {
	t.Helper()
	out, err := cli(t, "members", "--http-addr", a.httpAddr())
	if err != nil {
		t.Fatalf("members on %s: %v\n%s", a.name, err, out)
	}
	return out
}

// TestSeedGuide walks the seed guide: three servers started alone, joined
// by `consulate join`, a client joining with -join, web.json and reload,
// discovery by HTTP and DNS on the client, and a graceful leave.
func TestSeedGuide(t *testing.T) {
	conf1 := t.TempDir()
	s1 := startAgent(t, "consul-server01", "127.0.0.11", "-server", "-bootstrap", "-syslog=false",
		"-config-dir", conf1, "-disable-host-node-id")
	s2 := startAgent(t, "consul-server02", "127.0.0.12", "-server", "-disable-host-node-id")
	s3 := startAgent(t, "consul-server03", "127.0.0.13", "-server", "-disable-host-node-id")
	for _, s := range []*agentProc{s1, s2, s3} {
		s.waitHTTP(15 * time.Second)
	}
	// Each is a one-member cluster of its own.
	for _, s := range []*agentProc{s1, s2, s3} {
		out := membersOf(t, s)
		if n := strings.Count(out, "alive"); n != 1 {
			t.Fatalf("%s before join sees %d members:\n%s", s.name, n, out)
		}
	}
	for _, s := range []*agentProc{s2, s3} {
		out, err := cli(t, "join", "--http-addr", s.httpAddr(), "127.0.0.11")
		if err != nil || !strings.Contains(out, "Successfully joined cluster") {
			t.Fatalf("join from %s: %v\n%s", s.name, err, out)
		}
	}
	leader := s1.waitLeader(10 * time.Second)
	for _, s := range []*agentProc{s1, s2, s3} {
		testutil.WaitForErr(t, 10*time.Second, s.name+" sees three servers and the leader", func() error {
			l, err := s.client().Status().Leader()
			if err != nil || l != leader {
				return fmt.Errorf("leader %q (want %q) %v", l, leader, err)
			}
			out := membersOf(t, s)
			if strings.Count(out, " alive ") != 3 || strings.Count(out, " server ") != 3 {
				return fmt.Errorf("members:\n%s", out)
			}
			peers, err := s.client().Status().Peers()
			if err != nil || len(peers) != 3 {
				return fmt.Errorf("peers %v %v", peers, err)
			}
			return nil
		})
	}

	// The client joins at start.
	c1 := startAgent(t, "consul-client01", "127.0.0.14", "-join", "127.0.0.11", "-disable-host-node-id")
	c1.waitHTTP(15 * time.Second)
	testutil.WaitForErr(t, 10*time.Second, "four members everywhere", func() error {
		for _, s := range []*agentProc{s1, s2, s3, c1} {
			out := membersOf(t, s)
			if strings.Count(out, " alive ") != 4 || !strings.Contains(out, " client ") {
				return fmt.Errorf("%s members:\n%s", s.name, out)
			}
		}
		return nil
	})

	// web.json into server01's config dir, then reload.
	if err := os.WriteFile(filepath.Join(conf1, "web.json"), seedWebJSON(t), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := cli(t, "reload", "--http-addr=127.0.0.11:8500"); err != nil || !strings.Contains(out, "reload triggered") {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	cc := c1.client()
	testutil.WaitForErr(t, 10*time.Second, "web registered (critical)", func() error {
		checks, _, err := cc.Health().Checks("web", nil)
		if err != nil || len(checks) != 1 {
			return fmt.Errorf("checks %v %v", checks, err)
		}
		if checks[0].Status != api.HealthCritical {
			return fmt.Errorf("status %s before the web server runs", checks[0].Status)
		}
		return nil
	})
	stopWeb := testHTTPServer(t, "127.0.0.1:8080")
	testutil.WaitForErr(t, 10*time.Second, "web passing on the client", func() error {
		entries, _, err := cc.Health().Service("web", "", true, nil)
		if err != nil || len(entries) != 1 {
			return fmt.Errorf("%d passing, %v", len(entries), err)
		}
		rrs, err := srvLookup(t, "127.0.0.14:8600", "web.service.consul")
		if err != nil {
			return err
		}
		if len(rrs) != 1 || rrs[0].(*dns.SRV).Port != 8080 {
			return fmt.Errorf("SRV %v", rrs)
		}
		return nil
	})
	stopWeb()
	testutil.WaitForErr(t, 10*time.Second, "web gone from DNS", func() error {
		rrs, err := srvLookup(t, "127.0.0.14:8600", "web.service.consul")
		if err != nil && !strings.Contains(err.Error(), "NXDOMAIN") {
			return err
		}
		if len(rrs) != 0 {
			return fmt.Errorf("still answers %v", rrs)
		}
		return nil
	})

	// Graceful leave of the client with Ctrl-C.
	c1.stop(syscall.SIGINT, 15*time.Second)
	testutil.WaitForErr(t, 10*time.Second, "client left", func() error {
		out := membersOf(t, s1)
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "consul-client01") {
				if strings.Contains(line, "left") {
					return nil
				}
				return fmt.Errorf("client line: %s", line)
			}
		}
		return fmt.Errorf("client not listed:\n%s", out)
	})
}

// TestNodeIDConflict reproduces the seed's cloned-VM mistake: two agents
// with the same node ID. The join fails and says so.
func TestNodeIDConflict(t *testing.T) {
	id := "b76ff298-accd-05ff-8c64-5d79d866dfa9"
	a := startAgent(t, "consul-server01", "127.0.0.16", "-server", "-bootstrap", "-node-id", id)
	b := startAgent(t, "consul-server02", "127.0.0.17", "-server", "-node-id", id)
	a.waitHTTP(15 * time.Second)
	b.waitHTTP(15 * time.Second)
	out, err := cli(t, "join", "--http-addr", b.httpAddr(), "127.0.0.16")
	if err == nil {
		t.Fatalf("join succeeded:\n%s", out)
	}
	if !strings.Contains(out, "conflicting node ID") || !strings.Contains(out, id) {
		t.Fatalf("error does not name the conflict:\n%s", out)
	}
}

// TestLeaderKill kills the leader with writes in flight: a new leader is
// elected within 3 s, every acknowledged write survives, writes resume.
func TestLeaderKill(t *testing.T) {
	ips := []string{"127.0.0.18", "127.0.0.19", "127.0.0.20"}
	var servers []*agentProc
	for i, ip := range ips {
		servers = append(servers, startAgent(t, fmt.Sprintf("k%d", i+1), ip, "-server", "-bootstrap-expect", "3",
			"-retry-join", ips[0], "-retry-interval", "200ms"))
	}
	for _, s := range servers {
		s.waitHTTP(15 * time.Second)
	}
	leaderAddr := servers[0].waitLeader(15 * time.Second)
	var leader *agentProc
	var others []*agentProc
	for _, s := range servers {
		if strings.HasPrefix(leaderAddr, s.ip+":") {
			leader = s
		} else {
			others = append(others, s)
		}
	}
	if leader == nil {
		t.Fatalf("leader %s is none of ours", leaderAddr)
	}
	// Writes through a follower while the leader dies.
	kv := others[0].client().KV()
	acked := map[string]bool{}
	stopWrites := time.Now().Add(1500 * time.Millisecond)
	killed := false
	var killedAt time.Time
	for i := 0; i < 5000 && time.Now().Before(stopWrites.Add(5*time.Second)); i++ {
		key := fmt.Sprintf("w/%05d", i)
		if _, err := kv.Put(&api.KVPair{Key: key, Value: []byte(key)}, nil); err == nil {
			acked[key] = true
		}
		if !killed && i == 50 {
			leader.cmd.Process.Signal(syscall.SIGKILL)
			killed, killedAt = true, time.Now()
		}
		if killed && time.Now().After(stopWrites) && time.Since(killedAt) > time.Second {
			break
		}
	}
	var newLeader string
	testutil.WaitForErr(t, 3*time.Second-time.Since(killedAt), "new leader within 3s", func() error {
		l, err := others[0].client().Status().Leader()
		if err != nil || l == "" || l == leaderAddr {
			return fmt.Errorf("leader %q %v", l, err)
		}
		newLeader = l
		return nil
	})
	t.Logf("new leader %s after %v", newLeader, time.Since(killedAt))
	testutil.WaitForErr(t, 3*time.Second, "writes resume", func() error {
		_, err := kv.Put(&api.KVPair{Key: "after", Value: []byte("x")}, nil)
		return err
	})
	for key := range acked {
		p, _, err := kv.Get(key, &api.QueryOptions{RequireConsistent: true})
		if err != nil || p == nil {
			t.Fatalf("acknowledged write %s lost: %v", key, err)
		}
	}
	t.Logf("%d acknowledged writes all readable", len(acked))
}
