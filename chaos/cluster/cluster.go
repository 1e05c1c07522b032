// Package cluster runs real consulate agents as processes for the fault
// harness: it builds the binary, starts servers and clients on their own
// loopback addresses with default ports, and stops, kills (-9), pauses
// (SIGSTOP/SIGCONT) and restarts them. It also finds the Raft leader as
// the servers themselves report it.
//
// It is not a test framework: it returns errors and never calls testing.T,
// so the same code serves `go test` and a long run from the command line.
package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNoLeader says the servers did not agree on a leader before a deadline.
var ErrNoLeader = errors.New("cluster: no agreed leader")

// Build compiles consulate/cmd/consulate into dir and returns the binary's
// path. It must run inside the consulate module.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "consulate")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "consulate/cmd/consulate")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("cluster: go build: %v: %s", err, strings.TrimSpace(out.String()))
	}
	return bin, nil
}

// Config names the cluster's members.
type Config struct {
	// Binary is the consulate binary (see Build).
	Binary string
	// Dir holds each agent's data dir and log file.
	Dir string
	// Datacenter is the agents' datacenter (default dc1).
	Datacenter string
	// Servers are the servers' bind addresses (bootstrap-expect is their count).
	Servers []string
	// Clients are the client agents' bind addresses.
	Clients []string
}

// Cluster is one datacenter of agents.
type Cluster struct {
	cfg    Config
	agents []*Agent
}

// New prepares the agents; Start runs them.
func New(cfg Config) (*Cluster, error) {
	if cfg.Binary == "" || cfg.Dir == "" || len(cfg.Servers) == 0 {
		return nil, errors.New("cluster: Binary, Dir and at least one server are required")
	}
	if cfg.Datacenter == "" {
		cfg.Datacenter = "dc1"
	}
	c := &Cluster{cfg: cfg}
	join := []string{}
	for _, ip := range cfg.Servers {
		join = append(join, "-retry-join", ip)
	}
	for i, ip := range cfg.Servers {
		name := fmt.Sprintf("s%d", i+1)
		args := []string{"-server", "-bootstrap-expect", fmt.Sprint(len(cfg.Servers)), "-retry-interval", "200ms"}
		c.agents = append(c.agents, newAgent(cfg, name, ip, true, append(args, join...)))
	}
	for i, ip := range cfg.Clients {
		name := fmt.Sprintf("c%d", i+1)
		args := append([]string{"-retry-interval", "200ms"}, join...)
		c.agents = append(c.agents, newAgent(cfg, name, ip, false, args))
	}
	return c, nil
}

// Start starts every agent.
func (c *Cluster) Start() error {
	for _, a := range c.agents {
		if err := a.Start(); err != nil {
			c.Kill()
			return err
		}
	}
	return nil
}

// Agents returns every agent, servers first.
func (c *Cluster) Agents() []*Agent { return c.agents }

// Servers returns the server agents.
func (c *Cluster) Servers() []*Agent {
	var out []*Agent
	for _, a := range c.agents {
		if a.Server {
			out = append(out, a)
		}
	}
	return out
}

// ServerIPs returns the servers' addresses.
func (c *Cluster) ServerIPs() []string { return append([]string(nil), c.cfg.Servers...) }

// AllIPs returns every agent's address.
func (c *Cluster) AllIPs() []string {
	return append(append([]string(nil), c.cfg.Servers...), c.cfg.Clients...)
}

// ByIP returns the agent bound to ip, or nil.
func (c *Cluster) ByIP(ip string) *Agent {
	for _, a := range c.agents {
		if a.IP == ip {
			return a
		}
	}
	return nil
}

// Kill kills every agent (-9) and waits for them to exit.
func (c *Cluster) Kill() {
	for _, a := range c.agents {
		a.Kill()
	}
}

// Leader returns the server that a majority of the servers name as leader,
// asking each with the given per-request timeout. A server that does not
// answer counts against the majority.
func (c *Cluster) Leader(ctx context.Context) (*Agent, error) {
	servers := c.Servers()
	type view struct{ leader string }
	views := make([]view, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := s.LeaderView(ctx)
			if err == nil {
				views[i].leader = l
			}
		}()
	}
	wg.Wait()
	count := map[string]int{}
	for _, v := range views {
		if v.leader != "" {
			count[v.leader]++
		}
	}
	for addr, n := range count {
		if n*2 > len(servers) {
			ip, _, _ := strings.Cut(addr, ":")
			if a := c.ByIP(ip); a != nil && a.Server {
				return a, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: views %v", ErrNoLeader, count)
}

// WaitLeader polls Leader until a majority agrees or ctx ends. When all is
// true, every server must name the same leader.
func (c *Cluster) WaitLeader(ctx context.Context, all bool) (*Agent, error) {
	var last error
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		l, err := c.Leader(rctx)
		if err == nil && all {
			for _, s := range c.Servers() {
				v, verr := s.LeaderView(rctx)
				if verr != nil || !strings.HasPrefix(v, l.IP+":") {
					err = fmt.Errorf("%w: %s names %q (%v)", ErrNoLeader, s.Name, v, verr)
					break
				}
			}
		}
		cancel()
		if err == nil {
			return l, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Agent is one consulate agent process.
type Agent struct {
	Name   string
	IP     string
	Server bool

	bin  string
	args []string
	log  string

	// mu guards cmd and done.
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	http *http.Client
}

func newAgent(cfg Config, name, ip string, server bool, extra []string) *Agent {
	dir := filepath.Join(cfg.Dir, name)
	args := []string{"agent", "-node", name, "-bind", ip, "-client", ip,
		"-datacenter", cfg.Datacenter, "-data-dir", filepath.Join(dir, "data"), "-log-level", "info"}
	return &Agent{
		Name: name, IP: ip, Server: server,
		bin: cfg.Binary, args: append(args, extra...), log: filepath.Join(dir, "agent.log"),
		http: &http.Client{Timeout: 2 * time.Second},
	}
}

// HTTPAddr is the agent's HTTP address (ip:8500).
func (a *Agent) HTTPAddr() string { return a.IP + ":8500" }

// LogPath is the file that holds the agent's output (appended across restarts).
func (a *Agent) LogPath() string { return a.log }

// Start runs the agent; its output is appended to LogPath.
func (a *Agent) Start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd != nil {
		select {
		case <-a.done:
		default:
			return fmt.Errorf("cluster: %s is already running", a.Name)
		}
	}
	if err := os.MkdirAll(filepath.Dir(a.log), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(a.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "==== %s start %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(a.args, " "))
	cmd := exec.Command(a.bin, a.args...)
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group, so that a Ctrl-C of the harness does not
	// reach the agents before the harness has recorded what it saw.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("cluster: start %s: %w", a.Name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		f.Close()
		close(done)
	}()
	a.cmd, a.done = cmd, done
	return nil
}

// Running reports whether the process is alive (paused counts as alive).
func (a *Agent) Running() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd == nil {
		return false
	}
	select {
	case <-a.done:
		return false
	default:
		return true
	}
}

func (a *Agent) signal(sig syscall.Signal) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cmd == nil || a.cmd.Process == nil {
		return fmt.Errorf("cluster: %s is not running", a.Name)
	}
	return a.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL (after SIGCONT, so a paused agent dies too) and waits
// up to 5 s for the process to be gone.
func (a *Agent) Kill() {
	a.mu.Lock()
	cmd, done := a.cmd, a.done
	a.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGCONT)
	cmd.Process.Kill()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

// Stop asks the agent to leave (SIGTERM) and waits up to within.
func (a *Agent) Stop(within time.Duration) error {
	a.mu.Lock()
	done := a.done
	a.mu.Unlock()
	if err := a.signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-time.After(within):
		a.Kill()
		return fmt.Errorf("cluster: %s did not exit within %s of SIGTERM", a.Name, within)
	}
}

// Pause stops the process (SIGSTOP): it holds its sockets but answers nothing.
func (a *Agent) Pause() error { return a.signal(syscall.SIGSTOP) }

// Resume continues a paused process (SIGCONT).
func (a *Agent) Resume() error { return a.signal(syscall.SIGCONT) }

// Restart kills the agent if it runs and starts it again with the same
// data dir.
func (a *Agent) Restart() error {
	a.Kill()
	return a.Start()
}

// LeaderView is the leader address (ip:port) this agent reports, "" when
// it knows none.
func (a *Agent) LeaderView(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+a.HTTPAddr()+"/v1/status/leader", nil)
	if err != nil {
		return "", err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("cluster: %s: /v1/status/leader: %d %s", a.Name, resp.StatusCode, bytes.TrimSpace(b))
	}
	return strings.Trim(strings.TrimSpace(string(b)), `"`), nil
}

// LogTail returns the last n bytes of the agent's log.
func (a *Agent) LogTail(n int64) string {
	f, err := os.Open(a.log)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := st.Size() - n
	if off < 0 {
		off = 0
	}
	b, _ := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
	return string(b)
}
