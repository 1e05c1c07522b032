package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/internal/testutil"
)

// binary is the consulate binary built once for the package.
var binary string

func TestMain(m *testing.M) {
	// With CONSULATE_E2E_RACE the agents are built with the race detector;
	// their logs then carry any race report, and a racing agent exits
	// non-zero.
	os.Exit(testutil.RunWithConsulate(m, "consulate-e2e-", os.Getenv("CONSULATE_E2E_RACE") != "", &binary))
}

// agentProc is one running agent.
type agentProc struct {
	t    *testing.T
	name string
	ip   string
	args []string
	dir  string
	cmd  *exec.Cmd
	log  *testutil.Buffer
	done chan struct{}
}

// startAgent runs `consulate agent` bound to ip with the given extra args.
// The agent gets its own data dir unless args name one.
func startAgent(t *testing.T, name, ip string, args ...string) *agentProc {
	t.Helper()
	a := &agentProc{t: t, name: name, ip: ip, dir: t.TempDir()}
	a.args = append([]string{"agent", "-node", name, "-bind", ip, "-client", ip}, args...)
	if !hasFlag(args, "-data-dir") && !hasFlag(args, "-dev") {
		a.args = append(a.args, "-data-dir", filepath.Join(a.dir, "data"))
	}
	a.start()
	t.Cleanup(func() {
		a.kill()
		if strings.Contains(a.log.String(), "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race", a.name)
		}
		if t.Failed() {
			a.saveLog()
		}
	})
	return a
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

func hasFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
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

// restart starts the agent again with the same arguments.
func (a *agentProc) restart() { a.start() }

func (a *agentProc) signal(sig syscall.Signal) {
	if a.cmd != nil && a.cmd.Process != nil {
		a.cmd.Process.Signal(sig)
	}
}

// stop sends sig and waits for the process to end (bounded).
func (a *agentProc) stop(sig syscall.Signal, within time.Duration) {
	a.t.Helper()
	a.signal(sig)
	select {
	case <-a.done:
	case <-time.After(within):
		a.kill()
		a.t.Fatalf("%s did not exit within %s after %v\n%s", a.name, within, sig, a.log.String())
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

func (a *agentProc) httpAddr() string { return a.ip + ":8500" }

func (a *agentProc) client() *api.Client {
	cfg := api.DefaultConfig()
	cfg.Address = a.httpAddr()
	c, err := api.NewClient(cfg)
	if err != nil {
		a.t.Fatal(err)
	}
	return c
}

// cli runs a consulate subcommand and returns its combined output.
func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), "CONSUL_HTTP_ADDR=", "CONSULATE_HTTP_ADDR=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// errNotYet is what a testutil.WaitForErr condition returns while it does not hold.
var errNotYet = errors.New("not yet")

// waitHTTP waits until the agent's HTTP API answers.
func (a *agentProc) waitHTTP(within time.Duration) {
	a.t.Helper()
	testutil.WaitForErr(a.t, within, a.name+" HTTP API", func() error {
		select {
		case <-a.done:
			return fmt.Errorf("agent exited:\n%s", a.log.String())
		default:
		}
		conn, err := net.DialTimeout("tcp", a.httpAddr(), time.Second)
		if err != nil {
			return err
		}
		conn.Close()
		return nil
	})
}

// waitLeader waits until the agent reports a leader.
func (a *agentProc) waitLeader(within time.Duration) string {
	a.t.Helper()
	var leader string
	testutil.WaitForErr(a.t, within, a.name+" leader", func() error {
		l, err := a.client().Status().Leader()
		if err != nil {
			return err
		}
		if l == "" {
			return fmt.Errorf("no leader")
		}
		leader = l
		return nil
	})
	return leader
}

// waitAliveMembers waits until the agent sees n alive LAN members. One
// client serves every poll: a client per poll, each with its own
// connections, runs into the agent's per-client HTTP connection limit in
// a long wait; each poll is bounded by 5 s.
func (a *agentProc) waitAliveMembers(within time.Duration, n int) {
	a.t.Helper()
	c := apiClient(a.t, a.httpAddr(), 5*time.Second)
	testutil.WaitForErr(a.t, within, fmt.Sprintf("%d alive LAN members seen by %s", n, a.name), func() error {
		ms, err := c.Agent().Members(false)
		if err != nil {
			return err
		}
		alive := 0
		for _, m := range ms {
			if m.Status == 1 {
				alive++
			}
		}
		if alive != n {
			return fmt.Errorf("%d alive", alive)
		}
		return nil
	})
}
