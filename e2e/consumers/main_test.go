package consumers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/internal/testutil"
)

// buildDir holds the consulate binary, built on first use so that a run
// whose consumers are all missing does not pay for the build.
var (
	buildDir   string
	buildOnce  sync.Once
	binaryPath string
	buildErr   error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// consulateBinary builds cmd/consulate once for the package and returns
// its path.
func consulateBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "consulate-consumers-")
		if err != nil {
			buildErr = err
			return
		}
		buildDir = dir
		binaryPath, buildErr = testutil.BuildConsulate(dir, false)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binaryPath
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// proc is one process a test started in its own process group; kill ends
// the whole group (a consumer's helpers included).
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *testutil.Buffer
	done chan struct{}
}

// startProc starts cmd in a new process group with its output collected,
// and kills the group in t's cleanup, logging the output's tail if t failed.
func startProc(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, log: &testutil.Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("last output of %s:\n%s", name, tail(p.log.String(), 30))
			p.saveLog(t)
		}
	})
	return p
}

// saveLog keeps a failed test's process output under
// $TMPDIR/consulate-consumers-logs/<test>/.
func (p *proc) saveLog(t *testing.T) {
	dir := filepath.Join(os.TempDir(), "consulate-consumers-logs", t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	path := filepath.Join(dir, strings.ReplaceAll(p.name, " ", "-")+".log")
	if os.WriteFile(path, []byte(p.log.String()), 0o644) == nil {
		t.Logf("output of %s: %s", p.name, path)
	}
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL to the process group and waits (bounded) for the
// process to be reaped.
func (p *proc) kill() {
	if p.cmd.Process == nil {
		return
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
}

// agent is a consulate dev agent run for a consumer.
type agent struct {
	*proc
	ip string
}

// startDevAgent runs `consulate agent -dev` on ip (HTTP on ip:8500) and
// waits until it has a leader.
func startDevAgent(t *testing.T, name, ip string) *agent {
	t.Helper()
	cmd := exec.Command(consulateBinary(t), "agent", "-dev", "-node", name, "-bind", ip, "-client", ip)
	a := &agent{proc: startProc(t, name, cmd), ip: ip}
	testutil.WaitForErr(t, 20*time.Second, name+" leader", func() error {
		if a.exited() {
			return fmt.Errorf("agent exited:\n%s", a.log.String())
		}
		conn, err := net.DialTimeout("tcp", a.httpAddr(), time.Second)
		if err != nil {
			return err
		}
		conn.Close()
		l, err := a.client(t).Status().Leader()
		if err != nil {
			return err
		}
		if l == "" {
			return fmt.Errorf("no leader")
		}
		return nil
	})
	return a
}

func (a *agent) httpAddr() string { return a.ip + ":8500" }

func (a *agent) client(t *testing.T) *api.Client {
	cfg := api.DefaultConfig()
	cfg.Address = a.httpAddr()
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// getJSON fetches url within 3 s and decodes its JSON body into out (when
// non-nil); it returns the status code.
func getJSON(url string, out any) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decoding %s: %v: %s", url, err, body)
		}
	}
	return resp.StatusCode, nil
}
