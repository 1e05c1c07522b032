package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/internal/testutil"
)

// waitOwnHTTP waits for a's HTTP API and checks that the agent answering
// there is a itself, not another agent left on the same address.
func waitOwnHTTP(t *testing.T, a *agentProc) {
	t.Helper()
	a.waitHTTP(15 * time.Second)
	name, err := a.client().Agent().NodeName()
	if err != nil || name != a.name {
		t.Fatalf("the agent at %s is %q (%v), not %s; is the address in use?\n%s", a.httpAddr(), name, err, a.name, a.log.String())
	}
}

// startServerAndClient runs a one-server cluster at 127.0.0.11 and a
// client agent at 127.0.0.14 joined to it, and waits until the client
// reaches the leader.
func startServerAndClient(t *testing.T) (server, client *agentProc) {
	t.Helper()
	server = startAgent(t, "ryow-server", "127.0.0.11", "-server", "-bootstrap")
	waitOwnHTTP(t, server)
	server.waitLeader(15 * time.Second)
	client = startAgent(t, "ryow-client", "127.0.0.14", "-join", "127.0.0.11")
	waitOwnHTTP(t, client)
	client.waitLeader(15 * time.Second)
	return server, client
}

// TestReadYourWritesThroughClientAgent is the reported failure: through
// a client agent, ServiceRegister, UpdateTTL(passing), then at once
// Health().Service(passing only) must return the instance. Consul's agent
// syncs the change before answering; so must Consulate, every time.
func TestReadYourWritesThroughClientAgent(t *testing.T) {
	_, cl := startServerAndClient(t)
	c := cl.client()
	const n = 50
	var misses []string
	var took []time.Duration
	for i := range n {
		name := fmt.Sprintf("ryow-%d", i)
		start := time.Now()
		if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{
			ID: name, Name: name, Port: 9000 + i,
			Check: &api.AgentServiceCheck{TTL: "5m"},
		}); err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
		if err := c.Agent().UpdateTTL("service:"+name, "", api.HealthPassing); err != nil {
			t.Fatalf("update TTL of %s: %v", name, err)
		}
		entries, _, err := c.Health().Service(name, "", true, nil)
		took = append(took, time.Since(start))
		if err != nil {
			t.Fatalf("health of %s: %v", name, err)
		}
		if len(entries) != 1 {
			misses = append(misses, name)
		}
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	t.Logf("register + pass + read, %d services: median %v, max %v", n, took[n/2], took[n-1])
	if len(misses) > 0 {
		t.Fatalf("%d of %d passing instances missing right after register + pass: %v", len(misses), n, misses)
	}

	// Deregistration: gone from the catalog as soon as the call returns.
	for i := range 10 {
		name := fmt.Sprintf("ryow-%d", i)
		if err := c.Agent().ServiceDeregister(name); err != nil {
			t.Fatal(err)
		}
		if svcs, _, err := c.Catalog().Service(name, "", nil); err != nil || len(svcs) != 0 {
			t.Fatalf("%s still in the catalog right after deregistration: %v %v", name, svcs, err)
		}
	}

	// A failing TTL and a standalone check are in health at once.
	if err := c.Agent().UpdateTTL("service:ryow-10", "down", api.HealthCritical); err != nil {
		t.Fatal(err)
	}
	if entries, _, err := c.Health().Service("ryow-10", "", true, nil); err != nil || len(entries) != 0 {
		t.Fatalf("critical instance still passing right after fail: %v %v", entries, err)
	}
	if err := c.Agent().CheckRegister(&api.AgentCheckRegistration{Name: "ryow-disk",
		AgentServiceCheck: api.AgentServiceCheck{TTL: "5m", Status: api.HealthPassing}}); err != nil {
		t.Fatal(err)
	}
	if hc, _, err := c.Health().Checks("ryow-disk", nil); err != nil || len(hc) != 0 {
		// A node check is listed under /v1/health/node, not by service.
		t.Fatalf("node check listed by service name: %v %v", hc, err)
	}
	if hc, _, err := c.Health().Node("ryow-client", nil); err != nil || !hasCheck(hc, "ryow-disk", api.HealthPassing) {
		t.Fatalf("standalone check not in the catalog right after register: %v %v", hc, err)
	}
	if err := c.Agent().CheckDeregister("ryow-disk"); err != nil {
		t.Fatal(err)
	}
	if hc, _, err := c.Health().Node("ryow-client", nil); err != nil || hasCheck(hc, "ryow-disk", "") {
		t.Fatalf("standalone check still in the catalog right after deregister: %v %v", hc, err)
	}

	// Service maintenance: critical in health as soon as it is on, and
	// passing again as soon as it is off.
	if err := c.Agent().EnableServiceMaintenance("ryow-11", "deploying"); err != nil {
		t.Fatal(err)
	}
	entries, _, err := c.Health().Service("ryow-11", "", false, nil)
	if err != nil || len(entries) != 1 || entries[0].Checks.AggregatedStatus() != api.HealthMaint {
		t.Fatalf("maintenance not in health right after enabling it: %v %v", entries, err)
	}
	if passing, _, _ := c.Health().Service("ryow-11", "", true, nil); len(passing) != 0 {
		t.Fatalf("instance in maintenance listed as passing: %v", passing)
	}
	if err := c.Agent().DisableServiceMaintenance("ryow-11"); err != nil {
		t.Fatal(err)
	}
	if passing, _, err := c.Health().Service("ryow-11", "", true, nil); err != nil || len(passing) != 1 {
		t.Fatalf("instance not passing right after maintenance off: %v %v", passing, err)
	}

	// Node maintenance takes every instance on the node out at once.
	if err := c.Agent().EnableNodeMaintenance("reboot"); err != nil {
		t.Fatal(err)
	}
	if passing, _, err := c.Health().Service("ryow-12", "", true, nil); err != nil || len(passing) != 0 {
		t.Fatalf("instance passing right after node maintenance on: %v %v", passing, err)
	}
	if err := c.Agent().DisableNodeMaintenance(); err != nil {
		t.Fatal(err)
	}
	if passing, _, err := c.Health().Service("ryow-12", "", true, nil); err != nil || len(passing) != 1 {
		t.Fatalf("instance not passing right after node maintenance off: %v %v", passing, err)
	}
}

func hasCheck(hc api.HealthChecks, id, status string) bool {
	for _, c := range hc {
		if c.CheckID == id && (status == "" || c.Status == status) {
			return true
		}
	}
	return false
}

// TestAgentWriteWithoutServer: a client agent that has no server to talk
// to (not joined yet, then its server killed) still answers a
// registration with 200, promptly, and the service reaches the catalog
// once a server is back.
func TestAgentWriteWithoutServer(t *testing.T) {
	cl := startAgent(t, "ryow-client", "127.0.0.14")
	waitOwnHTTP(t, cl)
	c := cl.client()

	start := time.Now()
	if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "early", Port: 1}); err != nil {
		t.Fatalf("register with no known server: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("register with no known server took %v", d)
	}
	if svcs, err := c.Agent().Services(); err != nil || svcs["early"] == nil {
		t.Fatalf("not kept locally: %v %v", svcs, err)
	}

	srv := startAgent(t, "ryow-server", "127.0.0.11", "-server", "-bootstrap")
	waitOwnHTTP(t, srv)
	srv.waitLeader(15 * time.Second)
	if err := c.Agent().Join("127.0.0.11", false); err != nil {
		t.Fatal(err)
	}
	sc := srv.client()
	inCatalog := func(name string) func() error {
		return func() error {
			svcs, _, err := sc.Catalog().Service(name, "", nil)
			if err != nil {
				return err
			}
			if len(svcs) != 1 || svcs[0].Node != "ryow-client" {
				return fmt.Errorf("catalog has %v", svcs)
			}
			return nil
		}
	}
	testutil.WaitForErr(t, 30*time.Second, "the early registration in the catalog", inCatalog("early"))

	// The server hangs (SIGSTOP: connections open, nothing answers): the
	// registration waits no longer than the agent's sync bound (5s), and
	// the service arrives once the server runs again.
	srv.signal(syscall.SIGSTOP)
	start = time.Now()
	err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "during-freeze", Port: 3})
	d := time.Since(start)
	srv.signal(syscall.SIGCONT)
	if err != nil {
		t.Fatalf("register with the server stopped: %v", err)
	}
	t.Logf("register with the server stopped answered in %v", d)
	if d > 8*time.Second {
		t.Fatalf("register with the server stopped took %v, want at most the 5s sync bound", d)
	}
	testutil.WaitForErr(t, 30*time.Second, "the registration made during the freeze in the catalog", inCatalog("during-freeze"))

	// The server dies: registration still answers, within the agent's
	// bound, and the service arrives once the server is back.
	srv.kill()
	start = time.Now()
	if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "during-outage", Port: 2}); err != nil {
		t.Fatalf("register with the server down: %v", err)
	}
	d = time.Since(start)
	t.Logf("register with the server killed answered in %v", d)
	if d > 8*time.Second {
		t.Fatalf("register with the server down took %v, want at most the 5s sync bound", d)
	}
	srv.restart()
	waitOwnHTTP(t, srv)
	srv.waitLeader(15 * time.Second)
	// The client may have marked the server failed; joining again is
	// what an operator's retry_join would do.
	testutil.WaitForErr(t, 15*time.Second, "client rejoined", func() error { return c.Agent().Join("127.0.0.11", false) })
	testutil.WaitForErr(t, 60*time.Second, "the outage registration in the catalog", inCatalog("during-outage"))
	if err := inCatalog("early")(); err != nil {
		t.Fatalf("early registration lost: %v", err)
	}
	srv.stop(syscall.SIGTERM, 15*time.Second)
}

// TestRestartWithDamagedDataDir: after a kill -9, an empty persisted
// service file is logged by name and skipped and the agent starts; an
// empty node-id file stops the start with an error naming the file (as
// Consul does), instead of a silent new identity.
func TestRestartWithDamagedDataDir(t *testing.T) {
	a := startAgent(t, "crashy", "127.0.0.14", "-server", "-bootstrap")
	waitOwnHTTP(t, a)
	a.waitLeader(15 * time.Second)
	c := a.client()
	for _, name := range []string{"web", "db"} {
		if err := c.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: name, Port: 1}); err != nil {
			t.Fatal(err)
		}
	}
	a.kill()

	data := filepath.Join(a.dir, "data")
	files, err := filepath.Glob(filepath.Join(data, "services", "*"))
	if err != nil || len(files) != 2 {
		t.Fatalf("persisted service files: %v %v", files, err)
	}
	if err := os.WriteFile(files[0], nil, 0o600); err != nil {
		t.Fatal(err)
	}
	a.restart()
	waitOwnHTTP(t, a)
	svcs, err := c.Agent().Services()
	if err != nil || len(svcs) != 1 {
		t.Fatalf("after restart with one empty service file: %v %v", svcs, err)
	}
	if !strings.Contains(a.log.String(), files[0]) {
		t.Fatalf("the log does not name the damaged file %s:\n%s", files[0], a.log.String())
	}
	a.kill()

	nodeID := filepath.Join(data, "node-id")
	if err := os.WriteFile(nodeID, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	a.restart()
	select {
	case <-a.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the agent started with an empty node-id file")
	}
	if a.cmd.ProcessState.Success() {
		t.Fatal("the agent exited 0 with an empty node-id file")
	}
	if !strings.Contains(a.log.String(), nodeID) {
		t.Fatalf("the error does not name %s:\n%s", nodeID, a.log.String())
	}
}
