package chaos

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"consulate/chaos/cluster"
	"consulate/chaos/netfault"
)

var (
	longFor    = flag.Duration("chaos.long", 0, "run TestLong: random faults for this long (e.g. 30m)")
	seedFlag   = flag.Uint64("chaos.seed", 0, "seed for the workload and the faults (0: from the clock)")
	faultsFlag = flag.String("chaos.faults", "", "comma-separated faults the long run picks from (default: all)")
	slack      = flag.Float64("chaos.slack", 2, "the short round fails a recovery only beyond target × slack (the machine is shared with other packages' tests); the long run holds the target itself")
)

// netFlag picks the harness's loopback block: e2e uses 127.0.0.x, so the
// default is 127.0.1.x (servers .11–.13, client .14).
var netFlag = flag.Int("chaos.net", 1, "third octet of the agents' 127.0.N.x addresses (1–254; not 0, e2e's)")

func addrs(t *testing.T) (servers, clients []string) {
	n := *netFlag
	if n < 1 || n > 254 {
		t.Fatalf("-chaos.net=%d: want 1–254", n)
	}
	for i := 11; i <= 13; i++ {
		servers = append(servers, fmt.Sprintf("127.0.%d.%d", n, i))
	}
	return servers, []string{fmt.Sprintf("127.0.%d.14", n)}
}

// setup builds the binary, starts three servers and a client, and the
// workload on them.
func setup(t *testing.T, faults []Fault) *Runner {
	t.Helper()
	netfault.Require(t)
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -chaos.seed=%d)", seed, seed)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err := cluster.Build(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	serverIPs, clientIPs := addrs(t)
	c, err := cluster.New(cluster.Config{Binary: bin, Dir: dir, Servers: serverIPs, Clients: clientIPs})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Kill()
		if t.Failed() {
			keepLogs(t, c, dir)
		}
	})
	n, err := netfault.New("chaos")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	defer wcancel()
	if _, err := c.WaitLeader(wctx, true); err != nil {
		t.Fatalf("first leader: %v", err)
	}
	r, err := NewRunner(Config{Cluster: c, Net: n, Seed: seed, Dir: dir, Logf: t.Logf, Faults: faults})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// keepLogs copies the agents' logs (and any visualization) of a failed
// run under $TMPDIR/consulate-chaos-logs.
func keepLogs(t *testing.T, c *cluster.Cluster, dir string) {
	out := filepath.Join(os.TempDir(), "consulate-chaos-logs", t.Name())
	if err := os.MkdirAll(out, 0o755); err != nil {
		return
	}
	for _, a := range c.Agents() {
		if b, err := os.ReadFile(a.LogPath()); err == nil {
			os.WriteFile(filepath.Join(out, a.Name+".log"), b, 0o644)
		}
	}
	for _, pat := range []string{"*.html", "*.txt"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, p := range m {
			if b, err := os.ReadFile(p); err == nil {
				os.WriteFile(filepath.Join(out, filepath.Base(p)), b, 0o644)
			}
		}
	}
	t.Logf("agent logs kept in %s", out)
}

// check holds a round to its promises and its recovery target (times
// limit: slack in the short round, 1 in the long run).
func check(t *testing.T, rd *Round, limit float64) {
	t.Helper()
	t.Log(rd.String())
	for _, v := range rd.Violations {
		t.Errorf("round %d %s: %s", rd.N, rd.Fault, v)
	}
	f, _ := FaultByName(rd.Fault)
	switch rd.Fault {
	case "leader-cut":
		if rd.StepDown <= 0 {
			t.Errorf("round %d: the cut-off leader did not step down during the %s cut", rd.N, cutFor)
		}
		recovered(t, rd, "writes through every other agent", rd.RecoveryAll, f.Target, limit)
		// Whatever the machine's load, an agent whose server is the
		// cut-off leader must not wait for the heal.
		if cut := rd.Heal - rd.Start; rd.RecoveryAll < 0 || rd.RecoveryAll >= cut {
			t.Errorf("round %d: writes through some agent other than the cut-off leader waited for the heal (%s of a %s cut)",
				rd.N, ms(rd.RecoveryAll), ms(cut))
		}
	case "leader-kill", "leader-stop":
		recovered(t, rd, "writes", rd.RecoveryFirst, f.Target, limit)
		recovered(t, rd, "writes through every other agent", rd.RecoveryAll, f.Target, limit)
	}
	if rd.HealAll < 0 {
		t.Errorf("round %d %s: some agent took no write after the heal", rd.N, rd.Fault)
	}
}

func recovered(t *testing.T, rd *Round, what string, got, target time.Duration, limit float64) {
	t.Helper()
	bound := time.Duration(float64(target) * limit)
	switch {
	case got < 0:
		t.Errorf("round %d %s: %s never resumed", rd.N, rd.Fault, what)
	case got > bound:
		t.Errorf("round %d %s: %s resumed after %s (target %s, failing beyond %s)", rd.N, rd.Fault, what, ms(got), target, bound)
	case got > target:
		t.Logf("round %d %s: TARGET MISSED: %s resumed after %s (target %s; tolerated up to %s on a shared machine)",
			rd.N, rd.Fault, what, ms(got), target, bound)
	}
}

// TestShortRound runs each fault once under the workload and checks the
// history with porcupine (CI's round).
func TestShortRound(t *testing.T) {
	r := setup(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var lines []string
	for _, f := range Faults() {
		rd, err := r.RunRound(ctx, f)
		if err != nil {
			t.Fatalf("round %d: %v", rd.N, err)
		}
		check(t, rd, *slack)
		lines = append(lines, rd.String())
	}
	t.Logf("summary:\n%s", strings.Join(lines, "\n"))
}

// TestLong runs random faults for -chaos.long (off by default):
//
//	go test ./chaos -run Long -chaos.long=30m -timeout 40m -v
func TestLong(t *testing.T) {
	if *longFor <= 0 {
		t.Skip("the long run is off; enable it with -chaos.long=30m")
	}
	var faults []Fault
	if *faultsFlag != "" {
		for _, name := range strings.Split(*faultsFlag, ",") {
			f, ok := FaultByName(strings.TrimSpace(name))
			if !ok {
				t.Fatalf("-chaos.faults: unknown fault %q", name)
			}
			faults = append(faults, f)
		}
	}
	r := setup(t, faults)
	ctx, cancel := context.WithTimeout(context.Background(), *longFor+5*time.Minute)
	defer cancel()
	end := time.Now().Add(*longFor)
	var rounds []*Round
	for time.Now().Before(end) {
		rd, err := r.RunRound(ctx, r.Pick())
		if err != nil {
			t.Fatalf("round %d: %v", rd.N, err)
		}
		check(t, rd, 1)
		rounds = append(rounds, rd)
	}
	t.Logf("summary:\n%s", Summary(rounds))
}
