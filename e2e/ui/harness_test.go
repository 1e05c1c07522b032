package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"consulate/internal/testutil"
)

// binary is the consulate binary built once for the package.
var binary string

func TestMain(m *testing.M) {
	os.Exit(testutil.RunWithConsulate(m, "consulate-e2e-ui-", os.Getenv("CONSULATE_E2E_RACE") != "", &binary))
}

// clusterIPs are the addresses of a cluster's three agents.
type clusterIPs struct {
	DC1Server, DC1Client, DC2Server string
}

// smokeIPs is the smoke test's cluster; the flow tests run theirs on
// other addresses (flowIPs) so that both can run at once.
var smokeIPs = clusterIPs{DC1Server: "127.0.21.1", DC1Client: "127.0.21.2", DC2Server: "127.0.21.11"}

// agentProc is one running agent process.
type agentProc struct {
	t    *testing.T
	name string
	ip   string
	args []string
	cmd  *exec.Cmd
	log  *testutil.Buffer
	done chan struct{}
}

// startAgent runs `consulate agent` named name, bound to ip (HTTP on
// ip:8500), with its own data dir and the given extra arguments. It is
// killed when the test ends; a failed test logs where its log was kept.
func startAgent(t *testing.T, name, ip string, args ...string) *agentProc {
	t.Helper()
	a := &agentProc{t: t, name: name, ip: ip}
	a.args = append([]string{"agent", "-node", name, "-bind", ip, "-client", ip,
		"-data-dir", filepath.Join(t.TempDir(), "data"), "-log-level", "debug"}, args...)
	a.start()
	t.Cleanup(func() {
		a.kill()
		if t.Failed() {
			a.saveLog()
		}
	})
	return a
}

func (a *agentProc) start() {
	a.t.Helper()
	a.log = &testutil.Buffer{}
	a.cmd = exec.Command(binary, a.args...)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	if err := a.cmd.Start(); err != nil {
		a.t.Fatalf("start %s: %v", a.name, err)
	}
	a.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		cmd.Wait()
		close(done)
	}(a.cmd, a.done)
}

// restart starts a stopped agent again with the same arguments (and data
// dir).
func (a *agentProc) restart() { a.start() }

// stop sends sig (SIGINT: graceful leave; SIGKILL: the agent just
// disappears and gossip marks it failed) and waits for the process to end.
func (a *agentProc) stop(sig syscall.Signal, within time.Duration) {
	a.t.Helper()
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	a.cmd.Process.Signal(sig)
	select {
	case <-a.done:
	case <-time.After(within):
		a.kill()
		a.t.Fatalf("%s did not exit within %s after %v", a.name, within, sig)
	}
}

func (a *agentProc) kill() {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	a.cmd.Process.Signal(syscall.SIGCONT)
	a.cmd.Process.Kill()
	select {
	case <-a.done:
	case <-time.After(5 * time.Second):
	}
}

// saveLog keeps a failed test's agent log under $TMPDIR/consulate-e2e-logs.
func (a *agentProc) saveLog() {
	dir := filepath.Join(os.TempDir(), "consulate-e2e-logs", a.t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	path := filepath.Join(dir, a.name+".log")
	if os.WriteFile(path, []byte(a.log.String()), 0o644) == nil {
		a.t.Logf("log of %s: %s", a.name, path)
	}
}

// base is the agent's HTTP address as a URL prefix.
func (a *agentProc) base() string { return "http://" + a.ip + ":8500" }

// getJSON GETs path from the agent and decodes the JSON answer into out.
func (a *agentProc) getJSON(path string, out any) error {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(a.base() + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

// put sends a PUT of body to path on the agent.
func (a *agentProc) put(path, body string) error {
	req, err := http.NewRequest(http.MethodPut, a.base()+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT %s: %d %s", path, resp.StatusCode, b)
	}
	return nil
}

// waitHTTP waits until the agent's HTTP port accepts connections.
func (a *agentProc) waitHTTP(within time.Duration) {
	a.t.Helper()
	testutil.WaitForErr(a.t, within, a.name+" HTTP API", func() error {
		select {
		case <-a.done:
			return fmt.Errorf("agent exited:\n%s", a.log.String())
		default:
		}
		conn, err := net.DialTimeout("tcp", a.ip+":8500", time.Second)
		if err != nil {
			return err
		}
		conn.Close()
		return nil
	})
}

// cluster is the two-datacenter cluster the browser tests run against.
type cluster struct {
	DC1Server, DC1Client, DC2Server *agentProc
}

// startCluster starts dc1 (a server and a client agent with -ui) and dc2
// (one server, WAN-joined to dc1's) on ips, the servers with serverArgs
// added, and waits until both datacenters have a leader, the WAN pool
// lists both servers alive and the client sees dc2.
func startCluster(t *testing.T, ips clusterIPs, serverArgs ...string) *cluster {
	t.Helper()
	server := func(dc string, extra ...string) []string {
		args := []string{"-server", "-datacenter", dc, "-bootstrap-expect", "1"}
		return append(append(args, serverArgs...), extra...)
	}
	c := &cluster{
		DC1Server: startAgent(t, "dc1-s1", ips.DC1Server, server("dc1")...),
		DC2Server: startAgent(t, "dc2-s1", ips.DC2Server, server("dc2", "-retry-join-wan", ips.DC1Server, "-retry-interval-wan", "200ms")...),
		DC1Client: startAgent(t, "dc1-c1", ips.DC1Client, "-datacenter", "dc1", "-ui",
			"-retry-join", ips.DC1Server, "-retry-interval", "200ms"),
	}
	for _, a := range []*agentProc{c.DC1Server, c.DC2Server, c.DC1Client} {
		a.waitHTTP(20 * time.Second)
	}
	for _, a := range []*agentProc{c.DC1Server, c.DC2Server} {
		testutil.WaitForErr(t, 20*time.Second, a.name+" leader", func() error {
			var leader string
			if err := a.getJSON("/v1/status/leader", &leader); err != nil {
				return err
			}
			if leader == "" {
				return fmt.Errorf("no leader")
			}
			return nil
		})
	}
	testutil.WaitForErr(t, 20*time.Second, "both servers alive in the WAN pool", func() error {
		var ms []struct {
			Name   string
			Status int
		}
		if err := c.DC1Server.getJSON("/v1/agent/members?wan=1", &ms); err != nil {
			return err
		}
		alive := 0
		for _, m := range ms {
			if m.Status == 1 {
				alive++
			}
		}
		if alive != 2 {
			return fmt.Errorf("WAN members %+v", ms)
		}
		return nil
	})
	testutil.WaitForErr(t, 20*time.Second, "the client to see dc2 with a leader", func() error {
		var dcs []string
		if err := c.DC1Client.getJSON("/v1/catalog/datacenters", &dcs); err != nil {
			return err
		}
		if len(dcs) != 2 {
			return fmt.Errorf("datacenters %v", dcs)
		}
		var leader string
		if err := c.DC1Client.getJSON("/v1/status/leader?dc=dc2", &leader); err != nil {
			return err
		}
		if leader == "" {
			return fmt.Errorf("no dc2 leader")
		}
		return nil
	})
	return c
}

// UI is the URL of path (e.g. "/ui/dc1/services") on the client agent,
// the one serving the UI.
func (c *cluster) UI(path string) string { return c.DC1Client.base() + path }
