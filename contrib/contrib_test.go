package contrib

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"consulate/config"
	"consulate/internal/testutil"
)

// binary is the consulate binary, built once for the package.
var binary string

func TestMain(m *testing.M) {
	os.Exit(testutil.RunWithConsulate(m, "consulate-contrib-", false, &binary))
}

// unitKeys reads the Key=Value lines of a unit file by section.
func unitKeys(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			out[section] = map[string]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: line %q is not Key=Value", path, line)
			}
			out[section][k] = v
		}
	}
	return out
}

func TestSystemdUnitSettings(t *testing.T) {
	u := unitKeys(t, "systemd/consulate.service")
	for _, c := range []struct{ section, key, want string }{
		{"Unit", "ConditionFileNotEmpty", "/etc/consulate.d/consulate.hcl"},
		{"Service", "Type", "notify"},
		{"Service", "ExecStart", "/usr/bin/consulate agent -config-dir=/etc/consulate.d/"},
		{"Service", "ExecReload", "/bin/kill -HUP $MAINPID"},
		{"Service", "KillSignal", "SIGINT"},
		{"Service", "Restart", "on-failure"},
		{"Service", "LimitNOFILE", "65536"},
		{"Service", "User", "consulate"},
		{"Service", "Group", "consulate"},
		{"Service", "EnvironmentFile", "-/etc/consulate.d/consulate.env"},
		{"Install", "WantedBy", "multi-user.target"},
	} {
		if got := u[c.section][c.key]; got != c.want {
			t.Errorf("[%s] %s=%q, want %q", c.section, c.key, got, c.want)
		}
	}
}

// verifyUnit runs systemd-analyze verify on a copy of unit whose binary
// path is the built binary; it returns the messages about the unit.
func verifyUnit(t *testing.T, unit []byte) (string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "consulate.service")
	body := strings.ReplaceAll(string(unit), "/usr/bin/consulate", binary)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "systemd-analyze", "verify", "--man=no", path).CombinedOutput()
	var mine []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "consulate.service") {
			mine = append(mine, l)
		}
	}
	return strings.Join(mine, "\n"), err
}

// TestSystemdUnitVerifies runs systemd-analyze verify where systemd is
// installed (.ci/run installs it): no error and no warning about the unit.
// Broken copies must be caught by the same check.
func TestSystemdUnitVerifies(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed")
	}
	unit, err := os.ReadFile("systemd/consulate.service")
	if err != nil {
		t.Fatal(err)
	}
	if msgs, err := verifyUnit(t, unit); err != nil || msgs != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, msgs)
	}
	for _, broken := range []struct{ old, new string }{
		{"Type=notify", "Type=notified"},
		{"KillSignal=SIGINT", "KillSignal=SIGNOPE"},
		{"LimitNOFILE=65536", "LimitNOFILE=many"},
		{"ExecStart=/usr/bin/consulate", "ExecStart=/nonexistent/consulate"},
	} {
		bad := strings.Replace(string(unit), broken.old, broken.new, 1)
		if bad == string(unit) {
			t.Fatalf("unit has no %q", broken.old)
		}
		if msgs, err := verifyUnit(t, []byte(bad)); err == nil && msgs == "" {
			t.Errorf("verify did not catch %s", broken.new)
		}
	}
}

// TestExampleConfigsLoad loads /etc/consulate.d/ as packaged with each
// role's example put in place.
func TestExampleConfigsLoad(t *testing.T) {
	for _, role := range []string{"server", "client"} {
		t.Run(role, func(t *testing.T) {
			dir := t.TempDir()
			copyFile(t, "etc/consulate.d/consulate.hcl", filepath.Join(dir, "consulate.hcl"))
			copyFile(t, "etc/consulate.d/consulate.env", filepath.Join(dir, "consulate.env"))
			copyFile(t, "etc/consulate.d/"+role+".hcl.example", filepath.Join(dir, role+".hcl"))
			copyFile(t, "etc/consulate.d/web.hcl.example", filepath.Join(dir, "web.hcl"))
			// The template bind address needs a private IP this machine
			// may not have; the flag wins as on a real command line.
			bind := "127.0.15.30"
			rt, err := config.Load(config.LoadOpts{
				Sources: []config.Source{{Kind: config.SourceDir, Path: dir}},
				Flags:   &config.Config{BindAddr: &bind},
			})
			if err != nil {
				t.Fatal(err)
			}
			if rt.ServerMode != (role == "server") || rt.DataDir != "/var/lib/consulate" || rt.EnableSyslog || !strings.EqualFold(rt.LogLevel, "info") {
				// Syslog stays off: stderr already reaches the journal.
				t.Errorf("runtime: server=%v data_dir=%q syslog=%v log_level=%q", rt.ServerMode, rt.DataDir, rt.EnableSyslog, rt.LogLevel)
			}
			if len(rt.RetryJoinLAN) != 3 || len(rt.Services) != 1 || rt.Services[0].Name != "web" {
				t.Errorf("retry_join=%v services=%d", rt.RetryJoinLAN, len(rt.Services))
			}
			if role == "server" && (rt.BootstrapExpect != 3 || !rt.UIEnabled) {
				t.Errorf("server: bootstrap_expect=%d ui=%v", rt.BootstrapExpect, rt.UIEnabled)
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBinaryNotifiesServiceManager runs the built agent as systemd would
// run a Type=notify unit: READY=1 comes once the HTTP API answers, and
// SIGINT (the unit's KillSignal) makes it send STOPPING=1 and exit 0.
func TestBinaryNotifiesServiceManager(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ip := "127.0.15.10"
	// Ports the kernel picks on this test's own address (serf and DNS also
	// use UDP; a port free for TCP on a test-only address is in practice).
	seen := map[int]bool{}
	port := func() string {
		for {
			if p := testutil.FreePort(t, ip); !seen[p] {
				seen[p] = true
				return strconv.Itoa(p)
			}
		}
	}
	httpPort := port()
	cmd := exec.Command(binary, "agent", "-dev", "-bind", ip, "-client", ip, "-node", "notify-test",
		"-http-port", httpPort, "-dns-port", port(), "-server-port", port(), "-serf-lan-port", port(), "-serf-wan-port", port())
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	logs := &testutil.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("agent output:\n%s", logs.String())
		}
	}()

	buf := make([]byte, 4096)
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no READY=1 from the agent: %v", err)
	}
	if got := string(buf[:n]); got != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", got)
	}
	// At READY=1 the HTTP API already serves: the first request answers.
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + net.JoinHostPort(ip, httpPort) + "/v1/agent/self")
	if err != nil {
		t.Fatalf("HTTP API not serving at READY=1: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/agent/self at READY=1: %s", resp.Status)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err = conn.Read(buf)
	if err != nil {
		t.Fatalf("no STOPPING=1 after SIGINT: %v", err)
	}
	if got := string(buf[:n]); got != "STOPPING=1" {
		t.Fatalf("notification after SIGINT %q, want STOPPING=1", got)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("agent exited with %v after SIGINT", waitErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("agent still running 30s after SIGINT")
	}
}
