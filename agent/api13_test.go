package agent

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/serf/coordinate"
	"github.com/miekg/dns"

	"consulate/config"
)

// The API gaps of issue 13 tried with the official client against a real
// agent (a dev server) on 127.0.18.x.

const testHTTPPort13 = 18500

// startAPIAgent starts a dev server on ip with its HTTP API on
// testHTTPPort13 and returns it with an official client for it.
func startAPIAgent(t *testing.T, ip, extra string, mutate func(*config.Runtime)) (*Agent, *api.Client) {
	t.Helper()
	a := startAgent(t, testOpts(t, ip, extra), func(rt *config.Runtime) {
		rt.HTTPPort = testHTTPPort13
		if mutate != nil {
			mutate(rt)
		}
	})
	cl, err := api.NewClient(&api.Config{Address: fmt.Sprintf("%s:%d", ip, testHTTPPort13)})
	if err != nil {
		t.Fatal(err)
	}
	return a, cl
}

func TestTxnGetOrEmptyAndCatalogOps(t *testing.T) {
	a, cl := startAPIAgent(t, "127.0.18.1", "", nil)
	txn := cl.Txn()

	// get-or-empty: a missing key is an entry without value, no error.
	ok, resp, _, err := txn.Txn(api.TxnOps{
		{KV: &api.KVTxnOp{Verb: api.KVGetOrEmpty, Key: "vault/missing"}},
	}, nil)
	if err != nil || !ok {
		t.Fatalf("get-or-empty missing: ok=%v err=%v resp=%+v", ok, err, resp)
	}
	if len(resp.Results) != 1 || resp.Results[0].KV == nil || resp.Results[0].KV.Key != "vault/missing" ||
		resp.Results[0].KV.Value != nil || resp.Results[0].KV.ModifyIndex != 0 {
		t.Fatalf("get-or-empty missing result %+v", resp.Results)
	}
	if _, err := cl.KV().Put(&api.KVPair{Key: "vault/k", Value: []byte("v1")}, nil); err != nil {
		t.Fatal(err)
	}
	ok, resp, _, err = txn.Txn(api.TxnOps{
		{KV: &api.KVTxnOp{Verb: api.KVGetOrEmpty, Key: "vault/k"}},
	}, nil)
	if err != nil || !ok || len(resp.Results) != 1 || string(resp.Results[0].KV.Value) != "v1" || resp.Results[0].KV.ModifyIndex == 0 {
		t.Fatalf("get-or-empty present: ok=%v err=%v resp=%+v", ok, err, resp)
	}

	// One transaction registers a node, a service and a check with a KV
	// write; all of it lands together.
	ok, resp, _, err = txn.Txn(api.TxnOps{
		{Node: &api.NodeTxnOp{Verb: api.NodeSet, Node: api.Node{Node: "ext1", Address: "10.1.2.3"}}},
		{Service: &api.ServiceTxnOp{Verb: api.ServiceSet, Node: "ext1", Service: api.AgentService{ID: "web1", Service: "web", Port: 80}}},
		{Check: &api.CheckTxnOp{Verb: api.CheckSet, Check: api.HealthCheck{Node: "ext1", CheckID: "web-alive", Name: "alive",
			Status: api.HealthPassing, ServiceID: "web1"}}},
		{KV: &api.KVTxnOp{Verb: api.KVSet, Key: "reg/ext1", Value: []byte("x")}},
	}, nil)
	if err != nil || !ok {
		t.Fatalf("catalog txn: ok=%v err=%v resp=%+v", ok, err, resp)
	}
	if len(resp.Results) != 4 || resp.Results[0].Node == nil || resp.Results[0].Node.Address != "10.1.2.3" ||
		resp.Results[1].Service == nil || resp.Results[1].Service.Port != 80 ||
		resp.Results[2].Check == nil || resp.Results[2].Check.ServiceName != "web" ||
		resp.Results[3].KV == nil || resp.Results[3].KV.Value != nil {
		t.Fatalf("catalog txn results %+v", resp.Results)
	}
	svcs, _, err := cl.Health().Service("web", "", true, nil)
	if err != nil || len(svcs) != 1 || svcs[0].Node.Node != "ext1" {
		t.Fatalf("health after txn: %v %+v", err, svcs)
	}
	nodeIdx := resp.Results[0].Node.ModifyIndex

	// A read-only transaction of gets is served as a read (leader and
	// contact headers present).
	ok, resp, qm, err := txn.Txn(api.TxnOps{
		{Node: &api.NodeTxnOp{Verb: api.NodeGet, Node: api.Node{Node: "ext1"}}},
		{Service: &api.ServiceTxnOp{Verb: api.ServiceGet, Node: "ext1", Service: api.AgentService{ID: "web1"}}},
		{Check: &api.CheckTxnOp{Verb: api.CheckGet, Check: api.HealthCheck{Node: "ext1", CheckID: "web-alive"}}},
	}, &api.QueryOptions{AllowStale: true})
	if err != nil || !ok || len(resp.Results) != 3 || !qm.KnownLeader {
		t.Fatalf("read txn: ok=%v err=%v resp=%+v qm=%+v", ok, err, resp, qm)
	}

	// A failing cas rolls back the whole transaction; errors name the op.
	ok, resp, _, err = txn.Txn(api.TxnOps{
		{KV: &api.KVTxnOp{Verb: api.KVSet, Key: "reg/rolled-back", Value: []byte("x")}},
		{Node: &api.NodeTxnOp{Verb: api.NodeCAS, Node: api.Node{Node: "ext1", Address: "10.9.9.9", ModifyIndex: nodeIdx + 1000}}},
	}, nil)
	if err != nil || ok || len(resp.Errors) != 1 || resp.Errors[0].OpIndex != 1 ||
		!strings.Contains(resp.Errors[0].What, `failed to set node "ext1", index is stale`) {
		t.Fatalf("stale cas: ok=%v err=%v resp=%+v", ok, err, resp)
	}
	if p, _, _ := cl.KV().Get("reg/rolled-back", nil); p != nil {
		t.Fatal("rolled-back write applied")
	}
	ok, resp, _, err = txn.Txn(api.TxnOps{
		{Check: &api.CheckTxnOp{Verb: api.CheckGet, Check: api.HealthCheck{Node: "ext1", CheckID: "nope"}}},
	}, nil)
	if err != nil || ok || len(resp.Errors) != 1 || resp.Errors[0].What != `check "nope" on node "ext1" doesn't exist` {
		t.Fatalf("missing check get: ok=%v err=%v resp=%+v", ok, err, resp)
	}

	// delete-cas with the right index, then delete of the service.
	ok, resp, _, err = txn.Txn(api.TxnOps{
		{Service: &api.ServiceTxnOp{Verb: api.ServiceDelete, Node: "ext1", Service: api.AgentService{ID: "web1", Service: "web"}}},
		{Node: &api.NodeTxnOp{Verb: api.NodeDeleteCAS, Node: api.Node{Node: "ext1", ModifyIndex: nodeIdx}}},
	}, nil)
	if err != nil || !ok {
		t.Fatalf("delete txn: ok=%v err=%v resp=%+v", ok, err, resp)
	}
	if n, _, _ := cl.Catalog().Node("ext1", nil); n != nil {
		t.Fatalf("node still there: %+v", n)
	}

	// Session delete (not in the official client's TxnOp: raw JSON, as
	// Consul's endpoint takes it).
	sid, _, err := cl.Session().Create(&api.SessionEntry{Name: "s"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`[{"Session":{"Verb":"delete","Session":{"ID":%q}}}]`, sid)
	req, _ := http.NewRequest("PUT", fmt.Sprintf("http://127.0.18.1:%d/v1/txn", testHTTPPort13), strings.NewReader(body))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("session delete txn: %d", res.StatusCode)
	}
	if s, _, _ := cl.Session().Info(sid, nil); s != nil {
		t.Fatal("session survived its delete")
	}
	_ = a
}

func TestAgentHostVersionHealthAndCoordinateUpdate(t *testing.T) {
	_, cl := startAPIAgent(t, "127.0.18.2", "", nil)
	ag := cl.Agent()

	host, err := ag.Host()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"Memory", "CPU", "Host", "Disk", "CollectionTime"} {
		if host[k] == nil {
			t.Fatalf("host info without %s: %v", k, host)
		}
	}
	if h := host["Host"].(map[string]any); h["hostname"] == "" || h["os"] != "linux" {
		t.Fatalf("host part %v", h)
	}
	ver, err := ag.Version()
	if err != nil || ver["HumanVersion"] != "1.2.3-test" {
		t.Fatalf("version %v %v", ver, err)
	}
	for _, k := range []string{"SHA", "BuildDate", "FIPS"} {
		if _, ok := ver[k]; !ok {
			t.Fatalf("version without %s: %v", k, ver)
		}
	}

	// Unknown: 404, and the client's (critical, nil, nil).
	st, info, err := ag.AgentHealthServiceByID("nope")
	if err != nil || st != api.HealthCritical || info != nil {
		t.Fatalf("unknown id: %q %+v %v", st, info, err)
	}
	st, infos, err := ag.AgentHealthServiceByName("nope")
	if err != nil || st != api.HealthCritical || len(infos) != 0 {
		t.Fatalf("unknown name: %q %+v %v", st, infos, err)
	}
	for _, id := range []string{"web1", "web2"} {
		if err := ag.ServiceRegister(&api.AgentServiceRegistration{ID: id, Name: "web", Port: 80,
			Check: &api.AgentServiceCheck{CheckID: id + "-ttl", TTL: "1m", Status: api.HealthPassing}}); err != nil {
			t.Fatal(err)
		}
	}
	st, info, err = ag.AgentHealthServiceByID("web1")
	if err != nil || st != api.HealthPassing || info == nil || info.Service.ID != "web1" || info.AggregatedStatus != api.HealthPassing || len(info.Checks) != 1 {
		t.Fatalf("passing id: %q %+v %v", st, info, err)
	}
	if err := ag.UpdateTTL("web2-ttl", "slow", api.HealthWarning); err != nil {
		t.Fatal(err)
	}
	st, infos, err = ag.AgentHealthServiceByName("web")
	if err != nil || st != api.HealthWarning || len(infos) != 2 {
		t.Fatalf("warning name: %q %+v %v", st, infos, err)
	}
	if err := ag.UpdateTTL("web1-ttl", "down", api.HealthCritical); err != nil {
		t.Fatal(err)
	}
	st, _, err = ag.AgentHealthServiceByName("web")
	if err != nil || st != api.HealthCritical {
		t.Fatalf("critical name: %q %v", st, err)
	}
	res, err := http.Get(fmt.Sprintf("http://127.0.18.2:%d/v1/agent/health/service/id/web2?format=text", testHTTPPort13))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 64)
	n, _ := res.Body.Read(b)
	res.Body.Close()
	if res.StatusCode != http.StatusTooManyRequests || string(b[:n]) != api.HealthWarning {
		t.Fatalf("text: %d %q", res.StatusCode, b[:n])
	}

	// coordinate/update lands in the catalog's coordinates (for a node
	// of its own: the agent keeps sending its own).
	if _, err := cl.Catalog().Register(&api.CatalogRegistration{Node: "coord-ext", Address: "10.0.0.9"}, nil); err != nil {
		t.Fatal(err)
	}
	c := coordinate.NewCoordinate(coordinate.DefaultConfig())
	c.Vec[0] = 0.25
	if _, err := cl.Coordinate().Update(&api.CoordinateEntry{Node: "coord-ext", Coord: c}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "updated coordinate", func() bool {
		ents, _, err := cl.Coordinate().Node("coord-ext", nil)
		return err == nil && len(ents) == 1 && ents[0].Coord.Vec[0] == 0.25
	})
}

func TestUnixSocketAndHTTPConfig(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "consul.sock")
	extra := fmt.Sprintf(`, "addresses": {"http": "127.0.18.3 unix://%s"}, "unix_sockets": {"mode": "0700"},
  "http_config": {"response_headers": {"Access-Control-Allow-Origin": "*", "X-Test": "yes"},
    "allow_write_http_from": ["127.0.18.250/32"], "use_cache": false, "max_header_bytes": 8192}`, sock)
	_, tcp := startAPIAgent(t, "127.0.18.3", extra, nil)
	st, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o700 {
		t.Fatalf("socket mode %v", st.Mode())
	}
	unix, err := api.NewClient(&api.Config{Address: "unix://" + sock})
	if err != nil {
		t.Fatal(err)
	}

	// Writes over TCP from an address outside allow_write_http_from: 403.
	_, err = tcp.KV().Put(&api.KVPair{Key: "w", Value: []byte("1")}, nil)
	if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "Access is restricted") {
		t.Fatalf("tcp write: %v", err)
	}
	// Over the socket they pass; reads pass over both.
	if _, err := unix.KV().Put(&api.KVPair{Key: "w", Value: []byte("1")}, nil); err != nil {
		t.Fatalf("unix write: %v", err)
	}
	if p, _, err := tcp.KV().Get("w", nil); err != nil || p == nil || string(p.Value) != "1" {
		t.Fatalf("tcp read: %+v %v", p, err)
	}

	// response_headers on every answer (errors and the UI included).
	for _, u := range []string{"/v1/agent/self", "/v1/kv/missing", "/v1/nope"} {
		res, err := http.Get(fmt.Sprintf("http://127.0.18.3:%d%s", testHTTPPort13, u))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.Header.Get("Access-Control-Allow-Origin") != "*" || res.Header.Get("X-Test") != "yes" {
			t.Fatalf("%s: headers %v", u, res.Header)
		}
	}

	// use_cache = false: ?cached is a plain read (no X-Cache).
	_, qm, err := tcp.Health().Service("consul", "", false, &api.QueryOptions{UseCache: true})
	if err != nil || qm.CacheHit || qm.CacheAge != 0 {
		t.Fatalf("cached read %+v %v", qm, err)
	}
	res, err := http.Get(fmt.Sprintf("http://127.0.18.3:%d/v1/health/service/consul?cached", testHTTPPort13))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.Header.Get("X-Cache") != "" {
		t.Fatalf("X-Cache with use_cache=false: %q", res.Header.Get("X-Cache"))
	}

	// max_header_bytes: a request with bigger headers is refused (431).
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.18.3:%d/v1/agent/self", testHTTPPort13), nil)
	req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("big headers: %d", res.StatusCode)
	}
}

func TestPTRLookupsFromTheCatalog(t *testing.T) {
	const dnsPort = 18600
	a, cl := startAPIAgent(t, "127.0.18.4", `, "dns_config": {"allow_stale": true}`, func(rt *config.Runtime) { rt.DNSPort = dnsPort })
	if _, err := cl.Catalog().Register(&api.CatalogRegistration{Node: "db-host", Address: "10.20.30.40",
		Service: &api.AgentService{ID: "pg1", Service: "postgres", Address: "10.20.30.41", Port: 5432}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Catalog().Register(&api.CatalogRegistration{Node: "six", Address: "2001:db8::7"}, nil); err != nil {
		t.Fatal(err)
	}
	server := fmt.Sprintf("127.0.18.4:%d", dnsPort)
	ask := func(ip string) *dns.Msg {
		t.Helper()
		arpa, err := dns.ReverseAddr(ip)
		if err != nil {
			t.Fatal(err)
		}
		q := new(dns.Msg)
		q.SetQuestion(arpa, dns.TypePTR)
		m, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(q, server)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	dc := a.cfg.Datacenter
	// The agent's own node reaches the catalog through anti-entropy.
	waitFor(t, "own node's PTR", func() bool {
		m := ask("127.0.18.4")
		return len(m.Answer) == 1 && m.Answer[0].(*dns.PTR).Ptr == a.cfg.NodeName+".node."+dc+".consul."
	})
	for ip, want := range map[string]string{
		"10.20.30.40": "db-host.node." + dc + ".consul.",
		"2001:db8::7": "six.node." + dc + ".consul.",
		"10.20.30.41": "postgres.service." + dc + ".consul.",
	} {
		m := ask(ip)
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || m.Answer[0].(*dns.PTR).Ptr != want {
			t.Fatalf("PTR %s: %v, want %s", ip, m, want)
		}
	}
	if m := ask("192.0.2.1"); len(m.Answer) != 0 || m.Rcode == dns.RcodeSuccess {
		t.Fatalf("unknown address answered: %v", m)
	}
	if dig, err := exec.LookPath("dig"); err == nil {
		out, err := exec.Command(dig, "+short", "+time=2", "+tries=1", "-p", fmt.Sprint(dnsPort), "@127.0.18.4", "-x", "10.20.30.40").Output()
		if err != nil || strings.TrimSpace(string(out)) != "db-host.node."+dc+".consul." {
			t.Fatalf("dig -x: %q %v", out, err)
		}
	}
}
