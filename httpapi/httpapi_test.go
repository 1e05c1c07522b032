package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/internal/testutil"
	"consulate/structs"
)

func newTestServer(t testing.TB, f *fakeAgent) (*api.Client, *httptest.Server) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.DefaultQueryTime = 2 * time.Second
	srv := mustNew(t, cfg, f)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	c, err := api.NewClient(&api.Config{Address: ts.Listener.Addr().String(), HttpClient: ts.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return c, ts
}

func do(t *testing.T, ts *httptest.Server, method, path, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestAgentServiceLifecycle(t *testing.T) {
	f := newFakeAgent()
	c, ts := newTestServer(t, f)
	reg := &api.AgentServiceRegistration{
		ID: "web1", Name: "web", Tags: []string{"v1"}, Port: 8080, Address: "127.0.0.11",
		Meta: map[string]string{"version": "1"}, Weights: &api.AgentWeights{Passing: 3, Warning: 1},
		Check: &api.AgentServiceCheck{TTL: "10s"},
	}
	if err := c.Agent().ServiceRegister(reg); err != nil {
		t.Fatal(err)
	}
	svcs, err := c.Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	s := svcs["web1"]
	if s == nil || s.Service != "web" || s.Port != 8080 || s.Weights.Passing != 3 || s.Meta["version"] != "1" || s.Datacenter != "dc1" {
		t.Fatalf("services: %+v", svcs)
	}
	one, _, err := c.Agent().Service("web1", nil)
	if err != nil || one.ContentHash == "" || one.Tags[0] != "v1" {
		t.Fatalf("service: %+v %v", one, err)
	}
	if _, _, err := c.Agent().Service("nope", nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("unknown service: %v", err)
	}
	checks, err := c.Agent().Checks()
	if err != nil || checks["service:web1"] == nil || checks["service:web1"].Name != "Service 'web' check" {
		t.Fatalf("checks: %+v %v", checks, err)
	}
	if err := c.Agent().PassTTL("service:web1", "ok"); err != nil {
		t.Fatal(err)
	}
	if err := c.Agent().UpdateTTL("service:web1", "degraded", api.HealthWarning); err != nil {
		t.Fatal(err)
	}
	if got := f.Checks()["service:web1"]; got.Status != "warning" || got.Output != "degraded" {
		t.Fatalf("check after update: %+v", got)
	}
	filtered, err := c.Agent().ServicesWithFilter(`Service == "db"`)
	if err != nil || len(filtered) != 0 {
		t.Fatalf("filtered: %v %v", filtered, err)
	}
	if err := c.Agent().EnableServiceMaintenance("web1", "upgrade"); err != nil {
		t.Fatal(err)
	}
	if f.Checks()[structs.ServiceMaintPrefix+"web1"] == nil {
		t.Fatal("maintenance check missing")
	}
	if err := c.Agent().EnableNodeMaintenance("x"); err != nil || !f.nodeMain {
		t.Fatalf("node maintenance: %v", err)
	}
	if err := c.Agent().ServiceDeregister("web1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Agent().ServiceDeregister("web1"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("second deregister: %v", err)
	}
	// check register + deregister
	if err := c.Agent().CheckRegister(&api.AgentCheckRegistration{Name: "mem", AgentServiceCheck: api.AgentServiceCheck{TTL: "30s"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Agent().CheckDeregister("mem"); err != nil {
		t.Fatal(err)
	}
	// membership and misc
	m, err := c.Agent().Members(false)
	if err != nil || len(m) != 1 || m[0].Name != "node1" || m[0].Status != int(structs.StatusAlive) {
		t.Fatalf("members: %+v %v", m, err)
	}
	if err := c.Agent().Join("127.0.0.12:8301", true); err != nil || f.last["join"] != "[127.0.0.12:8301] true" {
		t.Fatalf("join: %v %v", err, f.last["join"])
	}
	if err := c.Agent().ForceLeavePrune("gone"); err != nil || f.last["force-leave"] != "gone true false" {
		t.Fatalf("force-leave: %v %v", err, f.last["force-leave"])
	}
	self, err := c.Agent().Self()
	if err != nil || self["Config"]["NodeName"] != "node1" {
		t.Fatalf("self: %v %v", self, err)
	}
	name, err := c.Agent().NodeName()
	if err != nil || name != "node1" {
		t.Fatalf("node name: %q %v", name, err)
	}
	if _, err := c.Agent().Metrics(); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := do(t, ts, "PUT", "/v1/agent/reload", ""); code != 200 {
		t.Fatalf("reload: %d", code)
	}
}

func TestAgentServiceBlockingHash(t *testing.T) {
	f := newFakeAgent()
	c, _ := newTestServer(t, f)
	if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "a", Name: "a", Port: 1}); err != nil {
		t.Fatal(err)
	}
	_, qm, err := c.Agent().Service("a", nil)
	if err != nil || qm.LastContentHash == "" {
		t.Fatalf("%v %+v", err, qm)
	}
	done := make(chan *api.AgentService, 1)
	go func() {
		s, _, _ := c.Agent().Service("a", &api.QueryOptions{WaitHash: qm.LastContentHash, WaitTime: 5 * time.Second})
		done <- s
	}()
	// Change the service until the blocked reader returns (bounded).
	deadline := time.After(5 * time.Second)
	for i := 0; ; i++ {
		if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "a", Name: "a", Port: 2 + i}); err != nil {
			t.Fatal(err)
		}
		select {
		case s := <-done:
			if s == nil || s.Port == 1 {
				t.Fatalf("blocking read returned %+v", s)
			}
			return
		case <-deadline:
			t.Fatal("blocking read did not return")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestServiceRegisterStrictDecoding(t *testing.T) {
	f := newFakeAgent()
	_, ts := newTestServer(t, f)
	cases := []struct {
		body string
		code int
		want string
	}{
		{`{"Name":"web","Bogus":1}`, 400, `unknown field "Bogus"`},
		{`{"Name":"web",`, 400, "Request decode failed"},
		{`{"ID":"x"}`, 400, "Missing service name"},
		{`{"Name":"web","Check":{"Interval":"10s"}}`, 400, "Invalid check"},
		{`{"Name":"web","Check":{"TTL":"ten"}}`, 400, "invalid duration"},
		{`{"Name":"web","Check":{"DockerContainerID":"abc","Interval":"10s"}}`, 400, "DockerContainerID needs ScriptArgs"},
		{`{"Name":"web","Check":{"TCP":"x:1","TCPUseTLS":true,"Interval":"1s"}}`, 400, "not supported"},
		{`{"Name":"web","Port":"80"}`, 400, "Port"},
		{``, 400, "empty body"},
		{`{"name":"web","enable_tag_override":true,"meta":{"my_key":"v"},"check":{"ttl":"5s","deregister_critical_service_after":"1m"}}`, 200, ""},
	}
	for _, c := range cases {
		code, body, _ := do(t, ts, "PUT", "/v1/agent/service/register", c.body)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: got %d %q, want %d containing %q", c.body, code, body, c.code, c.want)
		}
	}
	s := f.Services()["web"]
	if s == nil || !s.EnableTagOverride || s.Meta["my_key"] != "v" {
		t.Fatalf("snake_case registration: %+v", s)
	}
}

func TestBadInputs(t *testing.T) {
	f := newFakeAgent()
	_, ts := newTestServer(t, f)
	cases := []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"GET", "/v1/health/service/web?index=-1", "", 400, "Invalid index"},
		{"GET", "/v1/health/service/web?index=18446744073709551616", "", 400, "Invalid index"},
		{"GET", "/v1/health/service/web?index=abc", "", 400, "Invalid index"},
		{"GET", "/v1/health/service/web?wait=forever", "", 400, "Invalid wait"},
		{"GET", "/v1/health/service/web?wait=-5s", "", 400, "negative"},
		{"GET", "/v1/health/service/web?stale&consistent", "", 400, "Cannot specify ?stale with ?consistent"},
		{"GET", "/v1/health/service/web?max_stale=abc", "", 400, "max_stale"},
		{"GET", "/v1/health/state/bogus", "", 400, "Invalid check state"},
		{"GET", "/v1/health/service/web?filter=Service%20%3D%3D", "", 400, "expected a value"},
		{"GET", "/v1/health/service/web?filter=Nope%20%3D%3D%20x", "", 400, `"Nope"`},
		{"GET", "/v1/catalog/nodes?node-meta=:x", "", 400, "node-meta"},
		{"PUT", "/v1/agent/service/deregister/", "", 400, "Missing service ID"},
		{"PUT", "/v1/agent/service/deregister", "", 400, "Missing service ID"},
		{"PUT", "/v1/agent/check/update/x", `{"Status":"fine"}`, 400, "Invalid check status"},
		{"PUT", "/v1/agent/check/pass/nope", "", 404, "Unknown check"},
		{"PUT", "/v1/agent/maintenance", "", 400, "Missing value for enable"},
		{"PUT", "/v1/agent/maintenance?enable=maybe", "", 400, "Invalid value for enable"},
		{"PUT", "/v1/agent/check/register", `{"TTL":"10s"}`, 400, "Missing check name"},
		{"PUT", "/v1/agent/check/register", `{"Name":"c","TTL":"10s","ServiceID":"ghost"}`, 400, "does not exist"},
		{"POST", "/v1/agent/services", "", 405, "not allowed"},
		{"GET", "/v1/agent/service/register", "", 405, "not allowed"},
		{"GET", "/v1/kv/", "", 400, "Missing key name"},
		{"PUT", "/v1/kv/a?cas=x", "v", 400, "Invalid cas"},
		{"PUT", "/v1/kv/a?flags=-1", "v", 400, "Invalid flags"},
		{"PUT", "/v1/kv/a?acquire=s&release=s", "v", 400, "Conflicting"},
		{"PUT", "/v1/session/create", `{"Behavior":"explode"}`, 400, "Invalid Behavior"},
		{"PUT", "/v1/session/create", `{"TTL":"1s"}`, 400, "Invalid Session TTL"},
		{"PUT", "/v1/session/create", `{"LockDelay":"soon"}`, 400, "LockDelay"},
		{"PUT", "/v1/txn", `[{"KV":{"Verb":"explode","Key":"a"}}]`, 400, "invalid KV verb"},
		{"PUT", "/v1/txn", `[{"Node":{"Verb":"explode"}}]`, 400, "invalid Node verb"},
		{"PUT", "/v1/txn", `[{"KV":{"Verb":"get","Key":"a"},"Node":{"Verb":"get"}}]`, 400, "exactly one of"},
		{"PUT", "/v1/txn", `not json`, 400, "Failed to parse body"},
		{"PUT", "/v1/event/fire/x?tag=a", "", 400, "tag filter without service"},
		{"DELETE", "/v1/operator/raft/peer", "", 400, "Must specify either"},
		{"PUT", "/v1/catalog/register", `{"Address":"1.2.3.4"}`, 400, "Must provide node"},
		{"GET", "/v1/nope", "", 404, "not found"},
	}
	for _, c := range cases {
		code, body, _ := do(t, ts, c.method, c.path, c.body)
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s %s: got %d %q, want %d containing %q", c.method, c.path, code, body, c.code, c.want)
		}
	}
}

func TestHeadersAndIndexNeverZero(t *testing.T) {
	f := newFakeAgent()
	f.index = 0
	f.nodes = testNodes(3)
	_, ts := newTestServer(t, f)
	code, body, h := do(t, ts, "GET", "/v1/health/service/web?stale", "")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	for k, want := range map[string]string{
		"X-Consul-Index": "1", "X-Consul-KnownLeader": "true", "X-Consul-LastContact": "3",
		"X-Consul-Effective-Consistency": "stale", "Content-Type": "application/json",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	_, _, h = do(t, ts, "GET", "/v1/catalog/nodes?consistent", "")
	if h.Get("X-Consul-Effective-Consistency") != "consistent" {
		t.Errorf("consistency header %q", h.Get("X-Consul-Effective-Consistency"))
	}
	_, body, _ = do(t, ts, "GET", "/v1/catalog/nodes?pretty", "")
	if !strings.Contains(body, "\n    ") {
		t.Errorf("pretty output not indented: %q", body)
	}
}

func TestQueryOptionsReachRPC(t *testing.T) {
	f := newFakeAgent()
	f.nodes = testNodes(2)
	_, ts := newTestServer(t, f)
	code, body, _ := do(t, ts, "GET", "/v1/health/service/web?dc=dc1&index=1&wait=20ms&stale&max_stale=5s&tag=v1&tag=primary&near=_agent&node-meta=env:prod&token=abc&filter=Service.Port%20%3D%3D%208000", "")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	f.mu.Lock()
	a := f.last[structs.MethodHealthServiceNodes].(*structs.ServiceSpecificRequest)
	f.mu.Unlock()
	if a.Datacenter != "dc1" || a.MinQueryIndex != 1 || a.MaxQueryTime != 20*time.Millisecond || !a.AllowStale ||
		a.MaxStaleDuration != 5*time.Second || len(a.ServiceTags) != 2 || !a.TagFilter || a.Source.Node != "node1" ||
		a.NodeMetaFilters["env"] != "prod" || a.Token != "abc" || a.Filter == "" {
		t.Fatalf("request: %+v", a)
	}
	// wait is clamped to 10 minutes; 3600 bare seconds is accepted.
	do(t, ts, "GET", "/v1/catalog/nodes?wait=3600", "")
	f.mu.Lock()
	n := f.last[structs.MethodCatalogListNodes].(*structs.DCSpecificRequest)
	f.mu.Unlock()
	if n.MaxQueryTime != 10*time.Minute {
		t.Fatalf("wait not clamped: %s", n.MaxQueryTime)
	}
}

func TestErrorMapping(t *testing.T) {
	f := newFakeAgent()
	_, ts := newTestServer(t, f)
	f.errs[structs.MethodStatusPeers] = structs.ErrNoLeader
	cases := []struct {
		path string
		code int
		want string
	}{
		{"/v1/catalog/nodes?dc=dc9", 404, `unknown datacenter "dc9" (known datacenters: dc1 dc2)`},
		{"/v1/catalog/nodes?dc=dc2", 500, "No path to datacenter"},
		{"/v1/status/peers", 500, "No cluster leader"},
		{"/v1/coordinate/nodes", 500, "can't find method"},
		{"/v1/operator/raft/configuration", 500, "can't find method"},
	}
	for _, c := range cases {
		code, body, _ := do(t, ts, "GET", c.path, "")
		if code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: got %d %q, want %d containing %q", c.path, code, body, c.code, c.want)
		}
	}
	// Errors that crossed the wire as RemoteErrors map as the originals do.
	for _, c := range []struct {
		name string
		err  error
		code int
	}{
		{"remote unknown dc", &structs.ErrUnknownDC{DC: "x"}, 404},
		{"remote bad request", &structs.BadRequestError{Reason: "bad"}, 400},
	} {
		f.errs[structs.MethodStatusLeader] = structs.ToRemoteError(c.err)
		if code, _, _ := do(t, ts, "GET", "/v1/status/leader", ""); code != c.code {
			t.Errorf("%s: got %d, want %d", c.name, code, c.code)
		}
	}
}

func TestStatusAndCatalog(t *testing.T) {
	f := newFakeAgent()
	f.nodes = testNodes(4)
	c, _ := newTestServer(t, f)
	leader, err := c.Status().Leader()
	if err != nil || leader != "127.0.0.11:8300" {
		t.Fatalf("leader %q %v", leader, err)
	}
	peers, err := c.Status().Peers()
	if err != nil || len(peers) != 1 {
		t.Fatalf("peers %v %v", peers, err)
	}
	dcs, err := c.Catalog().Datacenters()
	if err != nil || len(dcs) != 2 {
		t.Fatalf("dcs %v %v", dcs, err)
	}
	nodes, qm, err := c.Catalog().Nodes(nil)
	if err != nil || len(nodes) != 4 || qm.LastIndex == 0 {
		t.Fatalf("nodes %v %v", nodes, err)
	}
	nodes, _, err = c.Catalog().Nodes(&api.QueryOptions{Filter: `Meta.env == "prod"`})
	if err != nil || len(nodes) != 2 {
		t.Fatalf("filtered nodes %d %v", len(nodes), err)
	}
	sn, _, err := c.Catalog().Service("web", "odd", nil)
	if err != nil || len(sn) != 2 || sn[0].ServiceName != "web" {
		t.Fatalf("catalog service %v %v", sn, err)
	}
	_, err = c.Catalog().Register(&api.CatalogRegistration{Node: "ext", Address: "127.0.0.30",
		Service: &api.AgentService{Service: "ext-svc", Port: 9}, Check: &api.AgentCheck{CheckID: "c1", Name: "c1", Status: "passing"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	reg := f.last[structs.MethodCatalogRegister].(*structs.RegisterRequest)
	f.mu.Unlock()
	if reg.Service.ID != "ext-svc" || len(reg.Checks) != 1 || reg.Checks[0].Node != "ext" {
		t.Fatalf("register request %+v", reg)
	}
}

func TestHealthServiceFilterAndPassing(t *testing.T) {
	f := newFakeAgent()
	f.nodes = testNodes(6)
	c, _ := newTestServer(t, f)
	all, _, err := c.Health().Service("web", "", false, nil)
	if err != nil || len(all) != 6 {
		t.Fatalf("all %d %v", len(all), err)
	}
	passing, _, err := c.Health().Service("web", "", true, nil)
	if err != nil || len(passing) != 3 {
		t.Fatalf("passing %d %v", len(passing), err)
	}
	cases := map[string]int{
		`Node.Meta.env == "prod"`:                              3,
		`"odd" in Service.Tags`:                                3,
		`Checks.Status == "critical"`:                          3,
		`Service.Tags contains "odd" and Node.Meta.env == dev`: 3,
		`Service.Tags contains "odd" and Service.Port == 8003`: 1,
		`not (Service.Port == 8000)`:                           5,
		`Service.Meta.version is empty`:                        0,
	}
	for expr, want := range cases {
		got, _, err := c.Health().Service("web", "", false, &api.QueryOptions{Filter: expr})
		if err != nil || len(got) != want {
			t.Errorf("%s: got %d (%v), want %d", expr, len(got), err, want)
		}
	}
}

// testNodes builds n instances of "web": even ones in env=prod with
// passing checks, odd ones tagged "odd" with a critical check.
func testNodes(n int) structs.CheckServiceNodes {
	out := make(structs.CheckServiceNodes, 0, n)
	for i := 0; i < n; i++ {
		env, status, tags := "prod", structs.HealthPassing, []string{"v1"}
		if i%2 == 1 {
			env, status, tags = "dev", structs.HealthCritical, []string{"v1", "odd"}
		}
		name := fmt.Sprintf("node%d", i)
		out = append(out, structs.CheckServiceNode{
			Node: &structs.Node{Node: name, Address: fmt.Sprintf("127.0.0.%d", 11+i), Datacenter: "dc1", Meta: map[string]string{"env": env}},
			Service: &structs.NodeService{ID: "web", Service: "web", Tags: tags, Port: 8000 + i,
				Meta: map[string]string{"version": "1"}},
			Checks: structs.HealthChecks{
				{Node: name, CheckID: structs.SerfCheckID, Status: structs.HealthPassing},
				{Node: name, CheckID: "service:web", ServiceID: "web", ServiceName: "web", Status: status},
			},
		})
	}
	return out
}

func TestKV(t *testing.T) {
	f := newFakeAgent()
	c, ts := newTestServer(t, f)
	kv := c.KV()
	for _, k := range []string{"app/a", "app/b", "app/sub/c", "other"} {
		if _, err := kv.Put(&api.KVPair{Key: k, Value: []byte("v-" + k), Flags: 7}, nil); err != nil {
			t.Fatal(err)
		}
	}
	p, qm, err := kv.Get("app/a", nil)
	if err != nil || p == nil || string(p.Value) != "v-app/a" || p.Flags != 7 || qm.LastIndex == 0 {
		t.Fatalf("get: %+v %v", p, err)
	}
	if p, _, err := kv.Get("missing", nil); err != nil || p != nil {
		t.Fatalf("missing: %+v %v", p, err)
	}
	list, _, err := kv.List("app/", nil)
	if err != nil || len(list) != 3 {
		t.Fatalf("list: %v %v", list, err)
	}
	keys, _, err := kv.Keys("app/", "/", nil)
	if err != nil || strings.Join(keys, ",") != "app/a,app/b,app/sub/" {
		t.Fatalf("keys: %v %v", keys, err)
	}
	if keys, _, err := kv.Keys("zzz", "", nil); err != nil || len(keys) != 0 {
		t.Fatalf("no keys: %v %v", keys, err)
	}
	// raw
	code, body, h := do(t, ts, "GET", "/v1/kv/app/a?raw", "")
	if code != 200 || body != "v-app/a" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("raw: %d %q", code, body)
	}
	// cas
	ok, _, err := kv.CAS(&api.KVPair{Key: "app/a", Value: []byte("new"), ModifyIndex: p.ModifyIndex + 100}, nil)
	if err != nil || ok {
		t.Fatalf("stale cas succeeded: %v %v", ok, err)
	}
	ok, _, err = kv.CAS(&api.KVPair{Key: "app/a", Value: []byte("new"), ModifyIndex: p.ModifyIndex}, nil)
	if err != nil || !ok {
		t.Fatalf("cas failed: %v %v", ok, err)
	}
	p2, _, _ := kv.Get("app/a", nil)
	if ok, _, err := kv.DeleteCAS(&api.KVPair{Key: "app/a", ModifyIndex: p.ModifyIndex}, nil); err != nil || ok {
		t.Fatalf("stale delete-cas: %v %v", ok, err)
	}
	if ok, _, err := kv.DeleteCAS(&api.KVPair{Key: "app/a", ModifyIndex: p2.ModifyIndex}, nil); err != nil || !ok {
		t.Fatalf("delete-cas: %v %v", ok, err)
	}
	if _, err := kv.Delete("other", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.DeleteTree("app/", nil); err != nil {
		t.Fatal(err)
	}
	if list, _, _ := kv.List("", nil); len(list) != 0 {
		t.Fatalf("left after deletes: %v", list)
	}
	// blocking get returns when the key changes
	_, qm, _ = kv.Get("watch", nil)
	got := make(chan *api.KVPair, 1)
	go func() {
		p, _, _ := kv.Get("watch", &api.QueryOptions{WaitIndex: qm.LastIndex, WaitTime: 5 * time.Second})
		got <- p
	}()
	deadline := time.After(5 * time.Second)
	for i := 0; ; i++ {
		kv.Put(&api.KVPair{Key: "watch", Value: []byte(fmt.Sprint(i))}, nil)
		select {
		case p := <-got:
			if p == nil {
				t.Fatal("blocking get returned nothing")
			}
			return
		case <-deadline:
			t.Fatal("blocking get did not return")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestKVValueTooLarge(t *testing.T) {
	f := newFakeAgent()
	c, ts := newTestServer(t, f)
	big := make([]byte, structs.MaxKVValueSize+1)
	_, err := c.KV().Put(&api.KVPair{Key: "big", Value: big}, nil)
	if err == nil || !strings.Contains(err.Error(), "413") {
		t.Fatalf("want 413, got %v", err)
	}
	// chunked body without Content-Length
	req, _ := http.NewRequest("PUT", ts.URL+"/v1/kv/big", io.MultiReader(strings.NewReader(string(big))))
	req.ContentLength = -1
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("chunked: %d", resp.StatusCode)
	}
	if _, err := c.KV().Put(&api.KVPair{Key: "ok", Value: big[:structs.MaxKVValueSize]}, nil); err != nil {
		t.Fatalf("max size rejected: %v", err)
	}
	// other bodies are bounded too
	code, _, _ := do(t, ts, "PUT", "/v1/agent/service/register", `{"Name":"`+strings.Repeat("x", 2<<20)+`"}`)
	if code != 413 {
		t.Fatalf("big registration: %d", code)
	}
}

func TestTxn(t *testing.T) {
	f := newFakeAgent()
	c, _ := newTestServer(t, f)
	ok, resp, _, err := c.KV().Txn(api.KVTxnOps{
		{Verb: api.KVSet, Key: "t/a", Value: []byte("1")},
		{Verb: api.KVSet, Key: "t/b", Value: []byte("2")},
	}, nil)
	if err != nil || !ok || len(resp.Results) != 2 || resp.Results[0].Key != "t/a" {
		t.Fatalf("txn: %v %+v %v", ok, resp, err)
	}
	ok, resp, _, err = c.KV().Txn(api.KVTxnOps{
		{Verb: api.KVCheckIndex, Key: "t/a", Index: 999},
		{Verb: api.KVSet, Key: "t/c", Value: []byte("3")},
	}, nil)
	if err != nil || ok || len(resp.Errors) != 1 || resp.Errors[0].OpIndex != 0 {
		t.Fatalf("failing txn: %v %+v %v", ok, resp, err)
	}
	if p, _, _ := c.KV().Get("t/c", nil); p != nil {
		t.Fatal("failed txn applied a write")
	}
}

func TestSessionsAndLock(t *testing.T) {
	f := newFakeAgent()
	c, ts := newTestServer(t, f)
	id, _, err := c.Session().Create(&api.SessionEntry{Name: "s", LockDelay: 5 * time.Second, TTL: "20s"}, nil)
	if err != nil || id == "" {
		t.Fatalf("create: %q %v", id, err)
	}
	f.mu.Lock()
	s := f.sessions[id]
	f.mu.Unlock()
	if s.Node != "node1" || s.LockDelay != 5*time.Second || s.Behavior != "release" || len(s.NodeChecks) != 1 {
		t.Fatalf("session: %+v", s)
	}
	info, _, err := c.Session().Info(id, nil)
	if err != nil || info == nil || info.ID != id || info.LockDelay != 5*time.Second {
		t.Fatalf("info: %+v %v", info, err)
	}
	if _, _, err := c.Session().Renew(id, nil); err != nil {
		t.Fatal(err)
	}
	if list, _, err := c.Session().List(nil); err != nil || len(list) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	if _, err := c.Session().Destroy(id, nil); err != nil {
		t.Fatal(err)
	}
	if se, _, err := c.Session().Renew(id, nil); err != nil || se != nil {
		t.Fatalf("renew of destroyed session: %+v %v", se, err)
	}
	// numeric LockDelay below 1000 is seconds
	code, _, _ := do(t, ts, "PUT", "/v1/session/create", `{"LockDelay": 7}`)
	if code != 200 {
		t.Fatalf("numeric lock delay: %d", code)
	}

	lock, err := c.LockKey("locks/leader")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	lost, err := lock.Lock(stop)
	if err != nil || lost == nil {
		t.Fatalf("lock: %v", err)
	}
	p, _, _ := c.KV().Get("locks/leader", nil)
	if p == nil || p.Session == "" {
		t.Fatalf("lock key not held: %+v", p)
	}
	if err := lock.Unlock(); err != nil {
		t.Fatal(err)
	}
	p, _, _ = c.KV().Get("locks/leader", nil)
	if p == nil || p.Session != "" {
		t.Fatalf("lock key still held: %+v", p)
	}
	close(stop)
}

func TestEvents(t *testing.T) {
	f := newFakeAgent()
	c, _ := newTestServer(t, f)
	id, _, err := c.Event().Fire(&api.UserEvent{Name: "deploy", Payload: []byte("v2"), ServiceFilter: "web"}, nil)
	if err != nil || id == "" {
		t.Fatalf("fire: %q %v", id, err)
	}
	c.Event().Fire(&api.UserEvent{Name: "other"}, nil)
	evs, qm, err := c.Event().List("deploy", nil)
	if err != nil || len(evs) != 1 || string(evs[0].Payload) != "v2" || evs[0].ServiceFilter != "web" {
		t.Fatalf("list: %+v %v", evs, err)
	}
	if qm.LastIndex != c.Event().IDToIndex(id) {
		t.Fatalf("index %d, want %d", qm.LastIndex, c.Event().IDToIndex(id))
	}
	// blocking on the current index returns when a new event arrives
	got := make(chan int, 1)
	go func() {
		evs, _, _ := c.Event().List("deploy", &api.QueryOptions{WaitIndex: qm.LastIndex, WaitTime: 5 * time.Second})
		got <- len(evs)
	}()
	deadline := time.After(5 * time.Second)
	for {
		c.Event().Fire(&api.UserEvent{Name: "deploy"}, nil)
		select {
		case n := <-got:
			if n < 2 {
				t.Fatalf("blocking list returned %d events", n)
			}
			return
		case <-deadline:
			t.Fatal("blocking event list did not return")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestStartShutdown(t *testing.T) {
	srv := mustNew(t, DefaultConfig(), newFakeAgent())
	if err := srv.Start([]string{"127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	addr := srv.Addrs()[0].String()
	c, _ := api.NewClient(&api.Config{Address: addr})
	if l, err := c.Status().Leader(); err != nil || l == "" {
		t.Fatalf("leader over real listener: %q %v", l, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal("second shutdown:", err)
	}
	if _, err := c.Status().Leader(); err == nil {
		t.Fatal("server still answering after shutdown")
	}
	if err := srv.Start([]string{"127.0.0.1:0"}); err == nil {
		t.Fatal("start after shutdown succeeded")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := DefaultConfig()
	bad.DefaultQueryTime = time.Hour
	if err := bad.Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("want ErrInvalidConfig, got %v", err)
	}
	if srv, err := New(bad, newFakeAgent(), nil); !errors.Is(err, ErrInvalidConfig) || srv != nil {
		t.Fatalf("New with an invalid config: want ErrInvalidConfig, got %v", err)
	}
	if _, err := New(DefaultConfig(), nil, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New with a nil Agent: want ErrInvalidConfig, got %v", err)
	}
}

// mustNew is New; an error fails the test.
func mustNew(t testing.TB, cfg Config, a Agent) *Server {
	t.Helper()
	srv, err := New(cfg, a, nil)
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	return srv
}

func BenchmarkHealthServicePassing(b *testing.B) {
	f := newFakeAgent()
	f.nodes = testNodes(20)
	srv := mustNew(b, DefaultConfig(), f)
	h := srv.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("GET", "/v1/health/service/web?passing", nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}

// TestShutdownReleasesBlockingQueries: a blocking query waiting with a
// long ?wait= does not hold Shutdown (and its client) until the wait ends;
// it is answered as soon as Shutdown starts.
func TestShutdownReleasesBlockingQueries(t *testing.T) {
	f := newFakeAgent()
	srv := mustNew(t, DefaultConfig(), f)
	if err := srv.Start([]string{"127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	c, _ := api.NewClient(&api.Config{Address: srv.Addrs()[0].String()})
	_, meta, err := c.KV().List("", nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := c.KV().List("", &api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: time.Minute})
		done <- err
	}()
	// The request must be waiting before Shutdown starts.
	testutil.WaitFor(t, 5*time.Second, "blocking request waiting", func() bool {
		return f.waiting.Load() > 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Shutdown took %v with a blocking query in flight", d)
	}
	select {
	case err := <-done:
		// The current data (this fake's wait returns without an error) or
		// a clean "try elsewhere", never a 500 "context canceled".
		if err != nil && (!strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "shutting down")) {
			t.Fatalf("blocking query ended with %v, want an answer or 503 Agent is shutting down", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("blocking query still waiting after Shutdown")
	}
}

// TestDrainingRequestIs503: a long-held request whose wait ends with the
// context's error because Shutdown started is answered 503 "Agent is
// shutting down", not 500 "context canceled".
func TestDrainingRequestIs503(t *testing.T) {
	f := newFakeAgent()
	f.errs = map[structs.Method]error{structs.MethodKVSList: context.Canceled}
	srv := mustNew(t, DefaultConfig(), f)
	srv.stopDrain()
	req := httptest.NewRequest("GET", "/v1/kv/?recurse&index=5", nil)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "shutting down") {
		t.Fatalf("got %d %q, want 503 Agent is shutting down", rec.Code, rec.Body.String())
	}
}
