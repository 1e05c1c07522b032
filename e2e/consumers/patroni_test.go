package consumers

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"consulate/internal/testutil"
)

// Patroni's cluster as the test runs it: scope (the KV prefix is
// service/<scope>/ and the registered service is <scope>), and the ports
// each node uses on its own address.
const (
	patroniScope    = "pgcons"
	patroniPGPort   = 15432
	patroniAPIPort  = 18008
	patroniTTL      = 20 // seconds; Patroni asks for sessions of half that, Consul's minimum is 10 s
	patroniAgentIP  = "127.0.19.1"
	patroniNode1IP  = "127.0.19.11"
	patroniNode2IP  = "127.0.19.12"
	patroniLeaderKV = "service/" + patroniScope + "/leader"
)

// patroniTools finds what the Patroni test needs, or skips saying what is
// missing: the patroni program, the python-consul module its interpreter
// imports, and PostgreSQL's server binaries.
func patroniTools(t *testing.T) (patroni, binDir string) {
	t.Helper()
	patroni, err := exec.LookPath("patroni")
	if err != nil {
		t.Skip("patroni is not installed (Debian: apt-get install patroni python3-consul postgresql); skipping the Patroni failover test")
	}
	// Patroni's Debian package is satisfied by python3-etcd; Consul needs
	// python3-consul, imported by the interpreter on patroni's #! line.
	python := "python3"
	if f, err := os.Open(patroni); err == nil {
		line, _ := bufio.NewReader(f).ReadString('\n')
		f.Close()
		if rest, ok := strings.CutPrefix(line, "#!"); ok {
			if fields := strings.Fields(rest); len(fields) > 1 && filepath.Base(fields[0]) == "env" {
				python = fields[1]
			} else if len(fields) > 0 {
				python = fields[0]
			}
		}
	}
	if out, err := exec.Command(python, "-c", "import consul").CombinedOutput(); err != nil {
		t.Skipf("patroni's Python (%s) cannot import consul (Debian: apt-get install python3-consul): %v\n%s", python, err, out)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "pg_ctl")) && isExecutable(filepath.Join(d, "postgres")) {
			return patroni, d
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && isExecutable(filepath.Join(filepath.Dir(real), "postgres")) {
			return patroni, filepath.Dir(real)
		}
	}
	t.Skip("PostgreSQL server binaries (pg_ctl, postgres) not found under /usr/lib/postgresql/*/bin (Debian: apt-get install postgresql); skipping the Patroni failover test")
	return "", ""
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// pgCredential is who Patroni (and so PostgreSQL, which refuses root) runs
// as: the postgres user when the test runs as root (as CI does), else the
// test's own user (nil).
func pgCredential(t *testing.T) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Skipf("running as root and there is no postgres user to run PostgreSQL as: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
}

// patroniNode is one running Patroni with the PostgreSQL it manages.
type patroniNode struct {
	t       *testing.T
	name    string
	ip      string
	dir     string
	dataDir string
	*proc
}

func (n *patroniNode) apiURL(path string) string {
	return fmt.Sprintf("http://%s:%d%s", n.ip, patroniAPIPort, path)
}

// startPatroni writes the node's configuration under root and starts
// Patroni on it. Cleanup kills Patroni's process group and the PostgreSQL
// server it started (which runs in a session of its own).
func startPatroni(t *testing.T, patroni, binDir, root, name, ip string, cred *syscall.Credential) *patroniNode {
	t.Helper()
	dir := filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	n := &patroniNode{t: t, name: name, ip: ip, dir: dir, dataDir: filepath.Join(dir, "data")}
	// The timings are Patroni's minimum sane ones for a fast test: the
	// loop runs every second, and a dead leader's session (TTL 10 s)
	// expires 20 s after its last renewal, when Consul (and Consulate)
	// deletes the leader key (behavior "delete").
	conf := fmt.Sprintf(`scope: %[1]s
namespace: /service/
name: %[2]s
log:
  level: INFO
restapi:
  listen: %[3]s:%[4]d
  connect_address: %[3]s:%[4]d
consul:
  host: %[5]s:8500
  register_service: true
  service_check_interval: 1s
bootstrap:
  dcs:
    ttl: %[6]d
    loop_wait: 1
    retry_timeout: 5
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: false
      parameters:
        wal_level: replica
        hot_standby: "on"
        max_wal_senders: 5
        max_replication_slots: 5
  initdb:
    - encoding: UTF8
    - locale: C
    - auth: trust
    - no-sync
  pg_hba:
    - local all all trust
    - host replication replicator 127.0.0.0/8 trust
    - host all all 127.0.0.0/8 trust
postgresql:
  listen: %[3]s:%[7]d
  connect_address: %[3]s:%[7]d
  data_dir: %[8]s
  bin_dir: %[9]s
  pgpass: %[10]s
  basebackup:
    - checkpoint: fast
    - no-sync
  authentication:
    replication:
      username: replicator
      password: replicator-pass
    superuser:
      username: postgres
      password: postgres-pass
  parameters:
    unix_socket_directories: %[11]s
    shared_buffers: 16MB
    max_connections: 20
    fsync: "off"
    synchronous_commit: "off"
    full_page_writes: "off"
`, patroniScope, name, ip, patroniAPIPort, patroniAgentIP, patroniTTL, patroniPGPort,
		n.dataDir, binDir, filepath.Join(dir, "pgpass"), dir)
	confPath := filepath.Join(dir, "patroni.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		for _, p := range []string{dir, confPath} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				t.Fatal(err)
			}
		}
	}
	cmd := exec.Command(patroni, confPath)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + dir, "LC_ALL=C.UTF-8", "PYTHONUNBUFFERED=1"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	n.proc = startProc(t, "patroni "+name, cmd)
	t.Cleanup(n.killPostgres)
	return n
}

// killPostgres kills the node's PostgreSQL server and its children.
// Patroni starts the postmaster in a session of its own, so killing
// Patroni's process group leaves it running; it is found by its -D
// argument (this node's data directory) and its children by their parent.
func (n *patroniNode) killPostgres() {
	var pids []int
	if pm := findProcs(func(pid, _ int, cmdline string) bool {
		return strings.Contains(cmdline, n.dataDir)
	}); len(pm) > 0 {
		pids = append(pids, pm...)
		for _, parent := range pm {
			pids = append(pids, findProcs(func(_, ppid int, _ string) bool { return ppid == parent })...)
		}
	}
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	// Wait (bounded) until they are gone or zombies, so the data
	// directory can be removed.
	testutil.Poll(5*time.Second, func() error {
		for _, pid := range pids {
			if procAlive(pid) {
				return fmt.Errorf("pid %d still alive", pid)
			}
		}
		return nil
	})
}

// killAll kills the node as a crash would: Patroni at once and its
// PostgreSQL at once, with no chance to hand over.
func (n *patroniNode) killAll() {
	n.kill()
	n.killPostgres()
}

// findProcs returns the pids of processes for which match is true.
func findProcs(match func(pid, ppid int, cmdline string) bool) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// stat is "pid (comm) state ppid ...": comm may hold spaces, so
		// the fields are read after the last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 2 || fields[0] == "Z" {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if match(pid, ppid, string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))) {
			out = append(out, pid)
		}
	}
	return out
}

// procAlive reports whether pid exists and is not a zombie.
func procAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && !bytes.HasPrefix(bytes.TrimSpace(stat[i+1:]), []byte("Z"))
}

// patroniGet fetches a Patroni REST API path (getJSON).
func patroniGet(n *patroniNode, path string, out any) (int, error) {
	return getJSON(n.apiURL(path), out)
}

// patroniCluster is the part of GET /cluster the test reads.
type patroniCluster struct {
	Members []struct {
		Name     string `json:"name"`
		Role     string `json:"role"`
		State    string `json:"state"`
		Host     string `json:"host"`
		Timeline int    `json:"timeline"`
	} `json:"members"`
}

// roles maps each member to "role/state".
func (c patroniCluster) roles() map[string]string {
	m := map[string]string{}
	for _, mem := range c.Members {
		m[mem.Name] = mem.Role + "/" + mem.State
	}
	return m
}

// patroniStatus is the part of GET /patroni the test reads.
type patroniStatus struct {
	State       string `json:"state"`
	Role        string `json:"role"`
	Replication []struct {
		ApplicationName string `json:"application_name"`
		ClientAddr      string `json:"client_addr"`
		State           string `json:"state"`
	} `json:"replication"`
}

// psql runs one SQL command against a node over TCP (trust auth) and
// returns its unaligned output.
func psql(binDir string, n *patroniNode, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", n.ip, "-p", strconv.Itoa(patroniPGPort), "-U", "postgres", "-d", "postgres", "-c", sql)
	cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=3")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// leaderKey reads Patroni's leader key from Consulate's KV.
func leaderKey(c *api.Client) (*api.KVPair, error) {
	kv, _, err := c.KV().Get(patroniLeaderKV, nil)
	return kv, err
}

// Patroni keeps a two-node PostgreSQL cluster on Consulate: the first node
// bootstraps and takes the leader key (a KV acquire with a TTL session of
// behavior "delete"), the second clones it and streams from it, both
// register the service with an HTTP check. When the primary crashes, its
// session expires, Consulate deletes the leader key, and the replica (woken
// by its blocking query on the key) takes the key and promotes itself.
func TestPatroniFailover(t *testing.T) {
	patroni, binDir := patroniTools(t)
	cred := pgCredential(t)
	start := time.Now()

	root := t.TempDir()
	if cred != nil {
		// PostgreSQL (running as postgres) must reach its directories
		// under the test's temporary directory, made 0700 for root.
		for _, d := range []string{filepath.Dir(root), root} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for d := filepath.Dir(filepath.Dir(root)); ; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err != nil || fi.Mode().Perm()&0o001 == 0 {
				t.Skipf("the postgres user cannot reach %s (%s is not searchable by others); set TMPDIR to a directory it can reach", root, d)
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}

	a := startDevAgent(t, "patroni-dcs", patroniAgentIP)
	c := a.client(t)

	n1 := startPatroni(t, patroni, binDir, root, "pg1", patroniNode1IP, cred)
	testutil.WaitForErr(t, 40*time.Second, "pg1 to bootstrap and hold the leader key", func() error {
		if n1.exited() {
			return fmt.Errorf("patroni pg1 exited")
		}
		kv, err := leaderKey(c)
		if err != nil {
			return err
		}
		if kv == nil || string(kv.Value) != "pg1" || kv.Session == "" {
			return fmt.Errorf("leader key %+v", kv)
		}
		return nil
	})
	t.Logf("pg1 leads %v after start", time.Since(start).Round(time.Millisecond))

	n2 := startPatroni(t, patroni, binDir, root, "pg2", patroniNode2IP, cred)
	testutil.WaitForErr(t, 40*time.Second, "pg2 streaming from pg1", func() error {
		if n2.exited() {
			return fmt.Errorf("patroni pg2 exited")
		}
		var st patroniStatus
		if _, err := patroniGet(n1, "/patroni", &st); err != nil {
			return err
		}
		for _, r := range st.Replication {
			if r.ApplicationName == "pg2" && r.State == "streaming" {
				return nil
			}
		}
		return fmt.Errorf("pg1 replication %+v", st.Replication)
	})
	testutil.WaitForErr(t, 20*time.Second, "Patroni's /cluster to show pg1 leading and pg2 a running replica", func() error {
		var cl patroniCluster
		if _, err := patroniGet(n2, "/cluster", &cl); err != nil {
			return err
		}
		r := cl.roles()
		if r["pg1"] != "leader/running" || (r["pg2"] != "replica/running" && r["pg2"] != "replica/streaming") {
			return fmt.Errorf("members %v", r)
		}
		return nil
	})
	t.Logf("pg2 streams %v after start", time.Since(start).Round(time.Millisecond))

	// The leader key is held by pg1's session, one Patroni made with
	// behavior "delete" and a TTL of half Patroni's ttl.
	kv, err := leaderKey(c)
	if err != nil || kv == nil {
		t.Fatalf("leader key: %v %v", kv, err)
	}
	sess, _, err := c.Session().Info(kv.Session, nil)
	if err != nil || sess == nil {
		t.Fatalf("session %s of the leader key: %v %v", kv.Session, sess, err)
	}
	if sess.Behavior != api.SessionBehaviorDelete || sess.Name != patroniScope+"-pg1" {
		t.Fatalf("leader session %+v, want behavior delete and name %s-pg1", sess, patroniScope)
	}
	if d, err := time.ParseDuration(sess.TTL); err != nil || d != patroniTTL*time.Second/2 {
		t.Fatalf("leader session TTL %q, want %v", sess.TTL, patroniTTL*time.Second/2)
	}
	members, _, err := c.KV().List("service/"+patroniScope+"/members/", nil)
	if err != nil || len(members) != 2 {
		t.Fatalf("member keys: %v %v", members, err)
	}

	// A row written on the primary reaches the replica.
	if out, err := psql(binDir, n1, "CREATE TABLE failover (x int); INSERT INTO failover VALUES (42)"); err != nil {
		t.Fatalf("write on pg1: %v: %s", err, out)
	}
	testutil.WaitForErr(t, 10*time.Second, "the row to replicate to pg2", func() error {
		out, err := psql(binDir, n2, "SELECT x FROM failover")
		if err != nil || out != "42" {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})

	// Both nodes registered the service; the primary's check (GET
	// /primary answers 200 on the leader only) passes.
	testutil.WaitForErr(t, 20*time.Second, "pg1 passing as the primary in the catalog", func() error {
		return wantPrimaryService(c, patroniNode1IP)
	})

	// The primary crashes.
	killedAt := time.Now()
	n1.killAll()

	testutil.WaitForErr(t, 45*time.Second, "pg2 to take the leader key after pg1's session expired", func() error {
		if n2.exited() {
			return fmt.Errorf("patroni pg2 exited")
		}
		kv, err := leaderKey(c)
		if err != nil {
			return err
		}
		if kv == nil || string(kv.Value) != "pg2" {
			return fmt.Errorf("leader key %+v", kv)
		}
		return nil
	})
	t.Logf("pg2 holds the leader key %v after pg1 was killed", time.Since(killedAt).Round(time.Millisecond))
	testutil.WaitForErr(t, 20*time.Second, "pg2 promoted (GET /primary 200, /cluster leader)", func() error {
		code, err := patroniGet(n2, "/primary", nil)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("GET /primary: %d", code)
		}
		var cl patroniCluster
		if _, err := patroniGet(n2, "/cluster", &cl); err != nil {
			return err
		}
		if r := cl.roles(); r["pg2"] != "leader/running" {
			return fmt.Errorf("members %v", r)
		}
		return nil
	})
	if s, _, err := c.Session().Info(sess.ID, nil); err != nil || s != nil {
		t.Fatalf("pg1's session %s after its expiry: %+v %v", sess.ID, s, err)
	}

	// The new primary has the data and takes writes.
	if out, err := psql(binDir, n2, "INSERT INTO failover VALUES (43); SELECT sum(x) FROM failover"); err != nil || out != "85" {
		t.Fatalf("write on the promoted pg2: %v: %q", err, out)
	}
	testutil.WaitForErr(t, 20*time.Second, "pg2 passing as the primary in the catalog", func() error {
		return wantPrimaryService(c, patroniNode2IP)
	})
	t.Logf("done %v after start", time.Since(start).Round(time.Millisecond))
}

// wantPrimaryService checks that the one passing instance of Patroni's
// service tagged primary is at addr.
func wantPrimaryService(c *api.Client, addr string) error {
	entries, _, err := c.Health().Service(patroniScope, "primary", true, nil)
	if err != nil {
		return err
	}
	if len(entries) != 1 || entries[0].Service.Address != addr || entries[0].Service.Port != patroniPGPort {
		var got []string
		for _, e := range entries {
			got = append(got, fmt.Sprintf("%s@%s:%d%v", e.Service.ID, e.Service.Address, e.Service.Port, e.Service.Tags))
		}
		return fmt.Errorf("passing primaries %v", got)
	}
	return nil
}
