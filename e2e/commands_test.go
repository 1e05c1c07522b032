package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/internal/testutil"
)

// bgCLI is a consulate command running in the background (lock holders).
type bgCLI struct {
	cmd  *exec.Cmd
	out  *testutil.Buffer
	done chan struct{}
	err  error
}

// startCLI runs a consulate subcommand in the background; the test's
// cleanup kills it.
func startCLI(t *testing.T, args ...string) *bgCLI {
	t.Helper()
	b := &bgCLI{out: &testutil.Buffer{}, done: make(chan struct{})}
	b.cmd = exec.Command(binary, args...)
	b.cmd.Env = append(os.Environ(), "CONSUL_HTTP_ADDR=", "CONSULATE_HTTP_ADDR=")
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		b.err = b.cmd.Wait()
		close(b.done)
	}()
	// A lock holder's child holds the output pipe too: never wait on it
	// for long.
	b.cmd.WaitDelay = 2 * time.Second
	t.Cleanup(func() {
		// SIGTERM first: a lock holder then kills its child and releases.
		b.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.done:
			return
		case <-time.After(10 * time.Second):
		}
		b.cmd.Process.Kill()
		select {
		case <-b.done:
		case <-time.After(5 * time.Second):
		}
	})
	return b
}

// wait waits for the command to end and returns its exit code.
func (b *bgCLI) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(within):
		t.Fatalf("command did not end within %v; output:\n%s", within, b.out.String())
	}
	var ee *exec.ExitError
	if errors.As(b.err, &ee) {
		return ee.ExitCode()
	}
	if b.err != nil {
		t.Fatalf("command: %v", b.err)
	}
	return 0
}

// exitCodeOf is the process status cli's error carries.
func exitCodeOf(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// pidAlive tells whether the process recorded in file still runs.
func pidAlive(t *testing.T, file string) bool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %q: %v", b, err)
	}
	return syscall.Kill(pid, 0) == nil
}

// TestCommandsOnCluster runs lock, maint, exec, members -filter, catalog
// nodes -filter and version -format=json against a server (remote exec
// enabled) and a client (remote exec left disabled, the default).
func TestCommandsOnCluster(t *testing.T) {
	srv := startAgent(t, "cmd-s1", "127.0.16.1", "-server", "-bootstrap",
		"-config-file", writeJSONConfig(t, map[string]any{"disable_remote_exec": false}))
	cli2 := startAgent(t, "cmd-c2", "127.0.16.2", "-retry-join", "127.0.16.1", "-retry-interval", "200ms")
	srv.waitHTTP(15 * time.Second)
	cli2.waitHTTP(15 * time.Second)
	srv.waitLeader(15 * time.Second)
	srv.waitAliveMembers(15*time.Second, 2)
	testutil.WaitForErr(t, 15*time.Second, "both nodes in the catalog", func() error {
		nodes, _, err := srv.client().Catalog().Nodes(nil)
		if err != nil || len(nodes) != 2 {
			return fmt.Errorf("%d nodes, %v", len(nodes), err)
		}
		return nil
	})
	addr := "-http-addr=" + srv.httpAddr()

	t.Run("version-json", func(t *testing.T) {
		out, err := cli(t, "version", "-format=json")
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, out)
		}
		for _, k := range []string{"Version", "Revision", "Prerelease", "BuildDate", "RPC"} {
			if _, ok := v[k]; !ok {
				t.Errorf("no %s in %s", k, out)
			}
		}
		rpc, _ := v["RPC"].(map[string]any)
		if rpc["Default"] != 2.0 || rpc["Min"] != 2.0 || rpc["Max"] != 3.0 {
			t.Errorf("RPC %v", v["RPC"])
		}
	})

	t.Run("members-filter", func(t *testing.T) {
		out, err := cli(t, "members", addr, "-filter", `Tags.role == "node"`)
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if !strings.Contains(out, "cmd-c2") || strings.Contains(out, "cmd-s1") {
			t.Fatalf("members -filter role==node:\n%s", out)
		}
		out, err = cli(t, "members", addr, "-filter", `Name == "nobody"`)
		if exitCodeOf(err) != 2 {
			t.Fatalf("a filter matching nothing: exit %d, want 2: %s", exitCodeOf(err), out)
		}
		out, err = cli(t, "members", addr, "-filter", `Bogus == "x"`)
		if exitCodeOf(err) != 1 || !strings.Contains(out, "Error retrieving members") {
			t.Fatalf("a bad filter: exit %d: %s", exitCodeOf(err), out)
		}
	})

	t.Run("catalog-nodes-filter", func(t *testing.T) {
		out, err := cli(t, "catalog", "nodes", addr, "-filter", `Node == "cmd-s1"`)
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if !strings.Contains(out, "cmd-s1") || strings.Contains(out, "cmd-c2") {
			t.Fatalf("catalog nodes -filter:\n%s", out)
		}
	})

	t.Run("maint", func(t *testing.T) {
		if err := srv.client().Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "web-1", Name: "web", Port: 80}); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			args []string
			want string
		}{
			{[]string{"-enable", "-reason", "kernel upgrade"}, "Node maintenance is now enabled\n"},
			{[]string{"-enable", "-service", "web-1", "-reason", "deploy"}, "Service maintenance is now enabled for \"web-1\"\n"},
			{nil, "Node:\n  Name:   cmd-s1\n  Reason: kernel upgrade\n\nService:\n  ID:     web-1\n  Reason: deploy\n\n"},
			{[]string{"-disable", "-service", "web-1"}, "Service maintenance is now disabled for \"web-1\"\n"},
			{[]string{"-disable"}, "Node maintenance is now disabled\n"},
			{nil, ""},
		}
		for _, s := range steps {
			out, err := cli(t, append([]string{"maint", addr}, s.args...)...)
			if err != nil || out != s.want {
				t.Fatalf("maint %v: %v\n%q\nwant\n%q", s.args, err, out, s.want)
			}
		}
	})

	t.Run("exec", func(t *testing.T) {
		out, err := cli(t, "exec", addr, "-wait=1s", "echo hello from $(hostname >/dev/null; echo exec)")
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		for _, want := range []string{"    cmd-s1: hello from exec\n", "==> cmd-s1: finished with exit code 0\n",
			"1 / 1 node(s) completed / acknowledged\n"} {
			if !strings.Contains(out, want) {
				t.Fatalf("exec output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "cmd-c2") {
			t.Fatalf("the client ran the job with remote exec disabled:\n%s", out)
		}
		testutil.WaitFor(t, 10*time.Second, "the client logging the ignored event", func() bool {
			return strings.Contains(cli2.log.String(), "ignoring remote exec event, disabled.")
		})

		// Through the client agent: the event goes out from there, the
		// server runs the job.
		out, err = cli(t, "exec", "-http-addr="+cli2.httpAddr(), "-wait=1s", "echo via client")
		if err != nil || !strings.Contains(out, "    cmd-s1: via client") || !strings.Contains(out, "1 / 1 node(s)") {
			t.Fatalf("exec through the client: %v\n%s", err, out)
		}

		// A failing command: the node's code is reported, the CLI exits 2.
		out, err = cli(t, "exec", addr, "-wait=1s", "echo partial; exit 3")
		if exitCodeOf(err) != 2 || !strings.Contains(out, "==> cmd-s1: finished with exit code 3") {
			t.Fatalf("failing job: exit %d:\n%s", exitCodeOf(err), out)
		}

		// A node filter that matches nobody able to run it.
		out, err = cli(t, "exec", addr, "-wait=1s", "-node=cmd-c2", "uptime")
		if err != nil || !strings.Contains(out, "0 / 0 node(s) completed / acknowledged") {
			t.Fatalf("filtered job: %v:\n%s", err, out)
		}

		// Service and tag filters match the agents' own services.
		if err := srv.client().Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "web-1", Name: "web", Port: 80, Tags: []string{"blue"}}); err != nil {
			t.Fatal(err)
		}
		out, err = cli(t, "exec", addr, "-wait=1s", "-service=^web$", "echo svc")
		if err != nil || !strings.Contains(out, "    cmd-s1: svc") || !strings.Contains(out, "1 / 1 node(s)") {
			t.Fatalf("-service=web: %v:\n%s", err, out)
		}
		out, err = cli(t, "exec", addr, "-wait=1s", "-service=^web$", "-tag=^blue$", "echo tagged")
		if err != nil || !strings.Contains(out, "    cmd-s1: tagged") {
			t.Fatalf("-tag=blue: %v:\n%s", err, out)
		}
		out, err = cli(t, "exec", addr, "-wait=1s", "-service=^web$", "-tag=nosuchtag", "echo svc")
		if err != nil || !strings.Contains(out, "0 / 0 node(s)") {
			t.Fatalf("-tag matching nothing: %v:\n%s", err, out)
		}

		// A script from stdin, and output larger than one chunk.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary, "exec", addr, "-wait=1s", "-")
		cmd.Stdin = strings.NewReader("for i in $(seq 1 800); do echo line-$i; done\n")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("script from stdin: %v\n%s", err, b)
		}
		if !strings.Contains(string(b), "    cmd-s1: line-1\n") || !strings.Contains(string(b), "    cmd-s1: line-800\n") {
			t.Fatalf("script output incomplete:\n%s", b)
		}

		// The session and every key of the jobs are gone.
		keys, _, err := srv.client().KV().Keys("_rexec/", "", nil)
		if err != nil || len(keys) != 0 {
			t.Fatalf("left behind under _rexec/: %v %v", keys, err)
		}
		sessions, _, err := srv.client().Session().List(nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sessions {
			if s.Name == "Remote Exec" {
				t.Fatalf("session left behind: %+v", s)
			}
		}
	})

	t.Run("lock", func(t *testing.T) {
		out, err := cli(t, "lock", addr, "locks/a", "echo held=$CONSUL_LOCK_HELD")
		if err != nil || !strings.Contains(out, "held=true") {
			t.Fatalf("lock: %v\n%s", err, out)
		}
		if p, _, _ := srv.client().KV().Get("locks/a/.lock", nil); p != nil {
			t.Fatalf("lock key left behind: %+v", p)
		}
		// Through the client agent (its session is on the client's node),
		// with stdin passed and without a shell.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary, "lock", "-http-addr="+cli2.httpAddr(), "-pass-stdin", "-shell=false", "locks/e", "cat")
		cmd.Stdin = strings.NewReader("from stdin\n")
		b, err := cmd.CombinedOutput()
		if err != nil || string(b) != "from stdin\n" {
			t.Fatalf("lock -pass-stdin -shell=false via the client: %v %q", err, b)
		}
		// The child's failure: 0 unless -child-exit-code, then 2.
		if _, err := cli(t, "lock", addr, "locks/a", "exit 3"); err != nil {
			t.Fatalf("failing child without -child-exit-code: %v", err)
		}
		if out, err := cli(t, "lock", addr, "-child-exit-code", "locks/a", "exit 3"); exitCodeOf(err) != 2 {
			t.Fatalf("failing child with -child-exit-code: exit %d\n%s", exitCodeOf(err), out)
		}
	})

	t.Run("lock-timeout-and-interrupt", func(t *testing.T) {
		marker := filepath.Join(t.TempDir(), "held")
		holder := startCLI(t, "lock", addr, "locks/d", "touch "+marker+"; exec sleep 60")
		testutil.WaitForErr(t, 15*time.Second, "the holder's child", func() error { _, err := os.Stat(marker); return err })
		start := time.Now()
		out, err := cli(t, "lock", addr, "-timeout=500ms", "locks/d", "echo should not run")
		if exitCodeOf(err) != 1 || !strings.Contains(out, "Shutdown triggered or timeout during lock acquisition") ||
			strings.Contains(out, "should not run") {
			t.Fatalf("lock -timeout on a held lock: exit %d:\n%s", exitCodeOf(err), out)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("-timeout=500ms took %v", d)
		}
		// An interrupt kills the child, releases the lock and removes it.
		holder.cmd.Process.Signal(os.Interrupt)
		if code := holder.wait(t, 15*time.Second); code != 0 {
			t.Fatalf("interrupted holder exited %d:\n%s", code, holder.out.String())
		}
		if p, _, _ := srv.client().KV().Get("locks/d/.lock", nil); p != nil {
			t.Fatalf("lock key left behind after an interrupt: %+v", p)
		}
	})

	t.Run("lock-forwards-signals", func(t *testing.T) {
		ready := filepath.Join(t.TempDir(), "ready")
		holder := startCLI(t, "lock", addr, "locks/f",
			"trap 'echo got-hup; exit 0' HUP; touch "+ready+"; while true; do sleep 0.1; done")
		testutil.WaitForErr(t, 15*time.Second, "the child's trap set", func() error { _, err := os.Stat(ready); return err })
		holder.cmd.Process.Signal(syscall.SIGHUP)
		if code := holder.wait(t, 15*time.Second); code != 0 || !strings.Contains(holder.out.String(), "got-hup") {
			t.Fatalf("SIGHUP not forwarded: exit %d\n%s", code, holder.out.String())
		}
	})

	t.Run("lock-lost", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "child.pid")
		holder := startCLI(t, "lock", addr, "-verbose", "locks/b", "echo $$ > "+pidFile+"; exec sleep 60")
		kv := srv.client().KV()
		var session string
		testutil.WaitForErr(t, 15*time.Second, "the lock held and the child started", func() error {
			p, _, err := kv.Get("locks/b/.lock", nil)
			if err != nil || p == nil || p.Session == "" {
				return fmt.Errorf("lock key %+v %v", p, err)
			}
			if _, err := os.Stat(pidFile); err != nil {
				return err
			}
			session = p.Session
			return nil
		})
		if !pidAlive(t, pidFile) {
			t.Fatal("child not running while the lock is held")
		}
		// Taking the session away loses the lock: the child is killed.
		if _, err := srv.client().Session().Destroy(session, nil); err != nil {
			t.Fatal(err)
		}
		code := holder.wait(t, 20*time.Second)
		out := holder.out.String()
		// As Consul: the lost lock is not the command's failure (exit 0),
		// and the key is cleaned up.
		if code != 0 || !strings.Contains(out, "Lock lost, killing child") || !strings.Contains(out, "Cleanup succeeded") {
			t.Fatalf("exit %d; output:\n%s", code, out)
		}
		testutil.WaitFor(t, 5*time.Second, "the child gone", func() bool { return !pidAlive(t, pidFile) })
	})

	t.Run("semaphore", func(t *testing.T) {
		dir := t.TempDir()
		holders := make([]*bgCLI, 3)
		for i := range holders {
			marker := filepath.Join(dir, fmt.Sprintf("held-%d", i))
			holders[i] = startCLI(t, "lock", addr, "-n", "2", "sem/x", "touch "+marker+"; exec sleep 60")
		}
		held := func() []int {
			var out []int
			for i := range holders {
				if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("held-%d", i))); err == nil {
					out = append(out, i)
				}
			}
			return out
		}
		testutil.WaitFor(t, 20*time.Second, "two holders", func() bool { return len(held()) == 2 })
		// The third waits: two contender keys hold the semaphore's slots.
		p, _, err := srv.client().KV().Get("sem/x/.lock", nil)
		if err != nil || p == nil {
			t.Fatalf("semaphore lock key: %v %v", p, err)
		}
		var lock struct {
			Limit   int
			Holders map[string]bool
		}
		if err := json.Unmarshal(p.Value, &lock); err != nil || lock.Limit != 2 || len(lock.Holders) != 2 {
			t.Fatalf("semaphore state %s: %v", p.Value, err)
		}
		if n := len(held()); n != 2 {
			t.Fatalf("%d holders with -n 2", n)
		}
		// A plain lock on the semaphore's prefix conflicts, as in Consul.
		out, err := cli(t, "lock", addr, "-timeout=1s", "sem/x", "true")
		if exitCodeOf(err) != 1 || !strings.Contains(out, "Lock acquisition failed: Existing key does not match lock use") {
			t.Fatalf("lock on a semaphore prefix: exit %d\n%s", exitCodeOf(err), out)
		}
		// One holder stops (SIGTERM: its child is killed, its slot
		// released); the waiting one takes the slot.
		first := held()[0]
		holders[first].cmd.Process.Signal(syscall.SIGTERM)
		holders[first].wait(t, 15*time.Second)
		testutil.WaitFor(t, 20*time.Second, "the third holder", func() bool { return len(held()) == 3 })
	})
}

// TestExecWithACLs: with default deny, the agent reads the job and writes
// its replies with its own agent token, whatever token the CLI used: an
// agent token with write on "_rexec/" runs the job; one without does not
// (the job is never acknowledged).
func TestExecWithACLs(t *testing.T) {
	srv := startAgent(t, "cmd-acl1", "127.0.16.11", "-server", "-bootstrap",
		"-config-file", aclConfig(t, `initial_management = "root-secret"`),
		"-config-file", writeJSONConfig(t, map[string]any{"disable_remote_exec": false}))
	srv.waitHTTP(15 * time.Second)
	root := tokenClient(t, srv, "root-secret")
	testutil.WaitForErr(t, 15*time.Second, "the initial management token", func() error {
		_, _, err := root.ACL().TokenReadSelf(nil)
		return err
	})
	mk := func(name, rules, secret string) {
		t.Helper()
		if _, _, err := root.ACL().PolicyCreate(&api.ACLPolicy{Name: name, Rules: rules}, nil); err != nil {
			t.Fatalf("policy %s: %v", name, err)
		}
		if _, _, err := root.ACL().TokenCreate(&api.ACLToken{SecretID: secret,
			Policies: []*api.ACLTokenPolicyLink{{Name: name}}}, nil); err != nil {
			t.Fatalf("token %s: %v", name, err)
		}
	}
	mk("rexec-agent", `node_prefix "" { policy = "write" }
key_prefix "_rexec/" { policy = "write" }`, "aaaaaaaa-0000-0000-0000-000000000001")
	mk("plain-agent", `node_prefix "" { policy = "write" }`, "aaaaaaaa-0000-0000-0000-000000000002")
	addr := "-http-addr=" + srv.httpAddr()

	if _, err := root.Agent().UpdateAgentACLToken("aaaaaaaa-0000-0000-0000-000000000001", nil); err != nil {
		t.Fatal(err)
	}
	out, err := cli(t, "exec", addr, "-token=root-secret", "-wait=1s", "echo with acls")
	if err != nil || !strings.Contains(out, "    cmd-acl1: with acls") || !strings.Contains(out, "1 / 1 node(s)") {
		t.Fatalf("exec with an agent token allowed on _rexec/: %v\n%s", err, out)
	}

	if _, err := root.Agent().UpdateAgentACLToken("aaaaaaaa-0000-0000-0000-000000000002", nil); err != nil {
		t.Fatal(err)
	}
	out, err = cli(t, "exec", addr, "-token=root-secret", "-wait=1s", "echo with acls")
	if err != nil || strings.Contains(out, "with acls") || !strings.Contains(out, "0 / 0 node(s)") {
		t.Fatalf("exec with an agent token without _rexec/: %v\n%s", err, out)
	}
}

// TestExecForeignDatacenter: `exec -datacenter dc2` from dc1 puts the job
// and a session (on a dc2 server's node) in dc2, fires the event there and
// collects dc2's replies across the WAN.
func TestExecForeignDatacenter(t *testing.T) {
	rexecOn := writeJSONConfig(t, map[string]any{"disable_remote_exec": false})
	d1 := startAgent(t, "cmd-d1", "127.0.16.31", "-server", "-bootstrap", "-config-file", rexecOn)
	d2 := startAgent(t, "cmd-d2", "127.0.16.41", "-server", "-bootstrap", "-datacenter", "dc2", "-config-file", rexecOn)
	d1.waitHTTP(15 * time.Second)
	d2.waitHTTP(15 * time.Second)
	d1.waitLeader(15 * time.Second)
	d2.waitLeader(15 * time.Second)
	if out, err := cli(t, "join", "-wan", "-http-addr", d1.httpAddr(), "127.0.16.41"); err != nil {
		t.Fatalf("join -wan: %v %s", err, out)
	}
	testutil.WaitForErr(t, 20*time.Second, "dc2's consul service seen from dc1", func() error {
		e, _, err := d1.client().Health().Service("consul", "", true, &api.QueryOptions{Datacenter: "dc2"})
		if err != nil || len(e) == 0 {
			return fmt.Errorf("%d entries, %v", len(e), err)
		}
		return nil
	})
	out, err := cli(t, "exec", "-http-addr", d1.httpAddr(), "-datacenter", "dc2", "-wait=1s", "echo from dc2")
	if err != nil || !strings.Contains(out, "    cmd-d2: from dc2") || !strings.Contains(out, "1 / 1 node(s)") ||
		strings.Contains(out, "cmd-d1") {
		t.Fatalf("exec -datacenter dc2: %v\n%s", err, out)
	}
	keys, _, err := d2.client().KV().Keys("_rexec/", "", nil)
	if err != nil || len(keys) != 0 {
		t.Fatalf("left behind in dc2: %v %v", keys, err)
	}
}
