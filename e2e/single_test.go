package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/internal/testutil"
)

// testHTTPServer serves 200 on ip:port until closed.
func testHTTPServer(t *testing.T, addr string) (stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from web")
	})}
	go srv.Serve(ln)
	var once bool
	stop = func() {
		if !once {
			once = true
			srv.Close()
		}
	}
	t.Cleanup(stop)
	return stop
}

func TestDevAgentHealthKVAndBlocking(t *testing.T) {
	a := startAgent(t, "dev1", "127.0.0.41", "-dev")
	a.waitHTTP(15 * time.Second)
	a.waitLeader(10 * time.Second)
	c := a.client()

	// A service with an HTTP check against a server we control.
	stopWeb := testHTTPServer(t, "127.0.0.41:18080")
	reg := &api.AgentServiceRegistration{
		Name: "web", Port: 18080, Tags: []string{"rails"},
		Check: &api.AgentServiceCheck{HTTP: "http://127.0.0.41:18080/", Interval: "200ms", Timeout: "1s"},
	}
	if err := c.Agent().ServiceRegister(reg); err != nil {
		t.Fatal(err)
	}
	testutil.WaitForErr(t, 10*time.Second, "web passing", func() error {
		entries, _, err := c.Health().Service("web", "", true, nil)
		if err != nil {
			return err
		}
		if len(entries) != 1 {
			return fmt.Errorf("%d passing instances", len(entries))
		}
		return nil
	})
	stopWeb()
	testutil.WaitForErr(t, 10*time.Second, "web critical", func() error {
		checks, _, err := c.Health().Checks("web", nil)
		if err != nil {
			return err
		}
		if len(checks) != 1 || checks[0].Status != api.HealthCritical {
			return fmt.Errorf("checks %+v", checks)
		}
		return nil
	})

	// KV: put, get, CAS, recurse, delete.
	kv := c.KV()
	if _, err := kv.Put(&api.KVPair{Key: "app/config/a", Value: []byte("1")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(&api.KVPair{Key: "app/config/b", Value: []byte("2"), Flags: 42}, nil); err != nil {
		t.Fatal(err)
	}
	p, _, err := kv.Get("app/config/b", nil)
	if err != nil || p == nil || string(p.Value) != "2" || p.Flags != 42 {
		t.Fatalf("get: %+v %v", p, err)
	}
	ok, _, err := kv.CAS(&api.KVPair{Key: "app/config/b", Value: []byte("3"), ModifyIndex: p.ModifyIndex + 1000}, nil)
	if err != nil || ok {
		t.Fatalf("CAS with a wrong index succeeded: %v %v", ok, err)
	}
	ok, _, err = kv.CAS(&api.KVPair{Key: "app/config/b", Value: []byte("3"), ModifyIndex: p.ModifyIndex}, nil)
	if err != nil || !ok {
		t.Fatalf("CAS failed: %v %v", ok, err)
	}
	pairs, _, err := kv.List("app/", nil)
	if err != nil || len(pairs) != 2 {
		t.Fatalf("list: %v %v", pairs, err)
	}
	if _, err := kv.DeleteTree("app/", nil); err != nil {
		t.Fatal(err)
	}
	if pairs, _, _ := kv.List("app/", nil); len(pairs) != 0 {
		t.Fatalf("left after delete-tree: %v", pairs)
	}

	// Oversized values are refused with 413.
	big := bytes.Repeat([]byte("x"), 512*1024+1)
	if _, err := kv.Put(&api.KVPair{Key: "big", Value: big}, nil); err == nil || !strings.Contains(err.Error(), "413") {
		t.Fatalf("oversized value: %v", err)
	}

	// Blocking query: wakes on a write to its key, not on another key.
	if _, err := kv.Put(&api.KVPair{Key: "watched", Value: []byte("v1")}, nil); err != nil {
		t.Fatal(err)
	}
	_, meta, err := kv.Get("watched", nil)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		p   *api.KVPair
		at  time.Time
		err error
	}
	got := make(chan result, 1)
	go func() {
		p, _, err := kv.Get("watched", &api.QueryOptions{WaitIndex: meta.LastIndex, WaitTime: 20 * time.Second})
		got <- result{p, time.Now(), err}
	}()
	time.Sleep(300 * time.Millisecond) // let the query park
	if _, err := kv.Put(&api.KVPair{Key: "unrelated", Value: []byte("x")}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		t.Fatalf("blocking query returned on a write to another key: %+v", r)
	case <-time.After(500 * time.Millisecond):
	}
	wrote := time.Now()
	if _, err := kv.Put(&api.KVPair{Key: "watched", Value: []byte("v2")}, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.err != nil || r.p == nil || string(r.p.Value) != "v2" {
			t.Fatalf("blocking result %+v", r)
		}
		if d := r.at.Sub(wrote); d > 100*time.Millisecond {
			t.Fatalf("blocking query woke %v after the write", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("blocking query did not wake on a write to its key")
	}
}

func TestDevAgentLocksBetweenClients(t *testing.T) {
	a := startAgent(t, "dev2", "127.0.0.42", "-dev")
	a.waitHTTP(15 * time.Second)
	a.waitLeader(10 * time.Second)
	c1, c2 := a.client(), a.client()
	l1, err := c1.LockKey("service/leader")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l1.Lock(nil); err != nil {
		t.Fatal(err)
	}
	l2, err := c2.LockOpts(&api.LockOptions{Key: "service/leader", LockTryOnce: true, LockWaitTime: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if ch, err := l2.Lock(nil); err != nil || ch != nil {
		t.Fatalf("second client got a held lock: %v %v", ch, err)
	}
	if err := l1.Unlock(); err != nil {
		t.Fatal(err)
	}
	l3, _ := c2.LockKey("service/leader")
	stop := make(chan struct{})
	time.AfterFunc(10*time.Second, func() { close(stop) })
	if ch, err := l3.Lock(stop); err != nil || ch == nil {
		t.Fatalf("second client could not take the released lock: %v", err)
	}
	l3.Unlock()
}

func TestBadInputIsRefusedAndAgentKeepsServing(t *testing.T) {
	a := startAgent(t, "dev3", "127.0.0.43", "-dev")
	a.waitHTTP(15 * time.Second)
	a.waitLeader(10 * time.Second)
	base := "http://" + a.httpAddr()
	cases := []struct {
		method, path, body string
		want               int
		mention            string
	}{
		{"PUT", "/v1/agent/service/register", `{"Name": "web",`, 400, ""},
		{"PUT", "/v1/agent/service/register", `{"Name": "web", "Bogus": 1}`, 400, "Bogus"},
		{"PUT", "/v1/agent/service/register", `{"Port": 80}`, 400, "name"},
		{"GET", "/v1/kv/x?index=-1", "", 400, "index"},
		{"GET", "/v1/kv/x?index=99999999999999999999999", "", 400, "index"},
		{"GET", "/v1/kv/x?wait=forever", "", 400, "wait"},
		{"PUT", "/v1/agent/service/deregister/", "", 0, ""},
		{"GET", "/v1/catalog/nodes?stale&consistent", "", 400, "stale"},
		{"PUT", "/v1/catalog/register", `{"Node": ""}`, 400, ""},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if tc.want == 0 {
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Errorf("%s %s: status %d, want a 4xx", tc.method, tc.path, resp.StatusCode)
			}
			continue
		}
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: status %d (%s), want %d", tc.method, tc.path, resp.StatusCode, body, tc.want)
		}
		if tc.mention != "" && !strings.Contains(strings.ToLower(string(body)), strings.ToLower(tc.mention)) {
			t.Errorf("%s %s: error %q does not mention %q", tc.method, tc.path, body, tc.mention)
		}
	}
	if _, err := a.client().Status().Leader(); err != nil {
		t.Fatalf("agent stopped serving: %v", err)
	}

	// A config file with a typo: the agent refuses to start and names it.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "web.json"), []byte(`{"servcie": {"name": "web"}}`), 0o644)
	out, err := cli(t, "agent", "-dev", "-bind", "127.0.0.44", "-client", "127.0.0.44", "-config-dir", dir)
	if err == nil || !strings.Contains(out, "servcie") || !strings.Contains(out, "web.json") {
		t.Fatalf("typo'd config: err=%v out=%s", err, out)
	}
}

func TestSingleServerRestartKeepsState(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	a := startAgent(t, "solo", "127.0.0.45", "-server", "-bootstrap", "-data-dir", data)
	a.waitHTTP(15 * time.Second)
	a.waitLeader(10 * time.Second)
	c := a.client()
	for i := 0; i < 20; i++ {
		if _, err := c.KV().Put(&api.KVPair{Key: fmt.Sprintf("keep/%02d", i), Value: []byte{byte(i)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "db", Port: 5432,
		Check: &api.AgentServiceCheck{TTL: "10m", Status: api.HealthPassing}}); err != nil {
		t.Fatal(err)
	}
	testutil.WaitForErr(t, 5*time.Second, "db in catalog", func() error {
		s, _, err := c.Catalog().Service("db", "", nil)
		if err != nil || len(s) != 1 {
			return fmt.Errorf("%v %v", s, err)
		}
		return nil
	})
	a.stop(syscall.SIGINT, 15*time.Second)

	a.restart()
	a.waitHTTP(15 * time.Second)
	a.waitLeader(15 * time.Second)
	c = a.client()
	pairs, _, err := c.KV().List("keep/", nil)
	if err != nil || len(pairs) != 20 {
		t.Fatalf("after restart: %d keys, %v", len(pairs), err)
	}
	svcs, err := c.Agent().Services()
	if err != nil || svcs["db"] == nil {
		t.Fatalf("service lost in restart: %v %v", svcs, err)
	}
	testutil.WaitForErr(t, 10*time.Second, "db in catalog after restart", func() error {
		s, _, err := c.Catalog().Service("db", "", nil)
		if err != nil || len(s) != 1 {
			return fmt.Errorf("%v %v", s, err)
		}
		return nil
	})
}
